#[runtime::test(timeout_secs = 5, timeout_secs = 10)]
async fn two_limits() {}

fn main() {}
