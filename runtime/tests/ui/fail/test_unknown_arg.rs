#[runtime::test(threads = 4)]
async fn four_threads() {}

fn main() {}
