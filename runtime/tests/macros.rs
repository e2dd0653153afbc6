//! `#[runtime::main]` and `#[runtime::test]`: compile-time cases pinned with trybuild,
//! and async tests that run on the runtime through the attribute.

mod common;

use std::cell::Cell;
use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::rc::Rc;
use std::time::Duration;

use runtime::__private::Watchdog;

/// The `pass/` cases build and run; each `fail/` case fails to build with the error
/// pinned in its `.stderr` file. Regenerate those with `TRYBUILD=overwrite` and review
/// the diff.
#[test]
fn ui() {
    // Building the cases compiles crates: a limit of its own.
    let _watchdog = Watchdog::for_current_test(Duration::from_secs(900));
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/pass/*.rs");
    cases.compile_fail("tests/ui/fail/*.rs");
}

#[runtime::test]
async fn awaits_a_spawned_task() {
    let handle = runtime::spawn(async { 6 * 7 });
    assert_eq!(handle.await.unwrap(), 42);
}

#[runtime::test]
async fn runs_non_send_futures() {
    let counter = Rc::new(Cell::new(0));
    let inner = counter.clone();
    runtime::spawn(async move { inner.set(inner.get() + 1) })
        .await
        .unwrap();
    assert_eq!(counter.get(), 1);
}

#[runtime::test]
async fn returns_ok() -> Result<(), std::num::ParseIntError> {
    let n: u32 = "12".parse()?;
    assert_eq!(n, 12);
    Ok(())
}

#[runtime::test]
async fn returns_boxed_error() -> Result<(), Box<dyn std::error::Error>> {
    let n: i64 = "-3".parse()?;
    assert_eq!(n, -3);
    Ok(())
}

#[runtime::test]
#[should_panic(expected = "panicked inside the block_on future")]
async fn keeps_should_panic() {
    panic!("panicked inside the block_on future");
}

#[runtime::test]
#[ignore = "shows that #[ignore] is kept; it would fail if run"]
async fn keeps_ignore() {
    panic!("an ignored test must not run");
}

#[runtime::test(backend = "poll")]
async fn runs_on_the_poll_backend() {
    assert_eq!(runtime::spawn(async { "poll" }).await.unwrap(), "poll");
}

mod reexport {
    pub use ::runtime;
}

#[runtime::test(crate = "crate::reexport::runtime")]
async fn uses_a_renamed_crate_path() {
    runtime::spawn(async {}).await.unwrap();
}

/// Hangs on purpose: run only by `a_hung_test_ends_the_process_with_its_name`, in a
/// process of its own.
#[runtime::test(timeout_secs = 1)]
#[ignore = "hangs on purpose; run by a_hung_test_ends_the_process_with_its_name"]
async fn hangs_forever() {
    std::future::pending::<()>().await;
}

/// The same for a plain `#[test]` under the shared helper.
#[test]
#[ignore = "hangs on purpose; run by a_hung_test_ends_the_process_with_its_name"]
fn a_plain_test_that_hangs() {
    let _watchdog = Watchdog::for_current_test(Duration::from_secs(1));
    std::thread::sleep(Duration::from_secs(3600));
}

/// Runs the ignored test `name` of this binary alone and returns its stderr, checking
/// that the watchdog aborted it.
fn run_hung(name: &str) -> String {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", name, "--test-threads=1"])
        .env_remove("EVLOOP_TEST_TIMEOUT_SCALE")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.signal(), Some(libc::SIGABRT), "{stderr}");
    stderr
}

#[test]
fn a_hung_test_ends_the_process_with_its_name() {
    let _watchdog = common::watchdog();
    let stderr = run_hung("hangs_forever");
    assert!(
        stderr.contains("test macros::hangs_forever has run for more than 1s"),
        "{stderr}"
    );
    let stderr = run_hung("a_plain_test_that_hangs");
    assert!(
        stderr.contains("test a_plain_test_that_hangs has run for more than 1s"),
        "{stderr}"
    );
}
