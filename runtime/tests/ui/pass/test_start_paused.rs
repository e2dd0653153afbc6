//! `start_paused`, alone and with the other arguments. Built as a binary, where tests
//! are compiled out; `tests/clock.rs` runs the same forms.

#[runtime::test(start_paused = true)]
async fn paused() {
    runtime::time::advance(std::time::Duration::from_secs(1)).await;
}

#[runtime::test(start_paused = false, backend = "poll", timeout_secs = 30)]
async fn not_paused() {}

fn main() {}
