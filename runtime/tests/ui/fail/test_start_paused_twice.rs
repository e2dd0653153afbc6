#[runtime::test(start_paused = true, timeout_secs = 5, start_paused = false)]
async fn paused_twice() {}

fn main() {}
