//! `#[runtime::main]` and `#[runtime::test]`: compile-time cases pinned with trybuild,
//! and async tests that run on the runtime through the attribute.

use std::cell::Cell;
use std::rc::Rc;

/// The `pass/` cases build and run; each `fail/` case fails to build with the error
/// pinned in its `.stderr` file. Regenerate those with `TRYBUILD=overwrite` and review
/// the diff.
#[test]
fn ui() {
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
