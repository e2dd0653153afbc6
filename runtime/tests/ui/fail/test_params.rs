#[runtime::test]
async fn takes_a_parameter(n: u8) {
    let _ = n;
}

fn main() {}
