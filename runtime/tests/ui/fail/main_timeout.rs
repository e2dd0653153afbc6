#[runtime::main(timeout_secs = 5)]
async fn main() {}
