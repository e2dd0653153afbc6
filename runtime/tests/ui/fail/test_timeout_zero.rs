#[runtime::test(timeout_secs = 0)]
async fn never_allowed_to_run() {}

fn main() {}
