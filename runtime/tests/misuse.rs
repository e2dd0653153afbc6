//! Misuse panics with advice, at the caller's line (`#[track_caller]`).

mod common;

use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe, catch_unwind};
use std::sync::Once;

use runtime::{Runtime, spawn, spawn_blocking};

thread_local! {
    /// Where the last panic on this thread was raised.
    static LAST_PANIC_AT: RefCell<Option<(String, u32)>> = const { RefCell::new(None) };
}

/// Runs `f`, which must panic, and returns its message and where the panic was raised.
fn panic_of(f: impl FnOnce()) -> (String, (String, u32)) {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if let Some(at) = info.location() {
                let at = (at.file().to_owned(), at.line());
                LAST_PANIC_AT.with(|last| *last.borrow_mut() = Some(at));
            }
            default(info);
        }));
    });
    LAST_PANIC_AT.with(|last| last.borrow_mut().take());
    let payload = catch_unwind(AssertUnwindSafe(f)).expect_err("it panics");
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default();
    let at = LAST_PANIC_AT
        .with(|last| last.borrow_mut().take())
        .expect("a location");
    (message, at)
}

/// This file and `line`.
fn here(line: u32) -> (String, u32) {
    (file!().to_owned(), line)
}

#[test]
fn nested_block_on_panics_with_advice() {
    let _watchdog = common::watchdog();
    let rt = Runtime::new().unwrap();
    let rt2 = Runtime::new().unwrap();
    let r = catch_unwind(AssertUnwindSafe(|| {
        rt.block_on(async { rt2.block_on(async {}) })
    }));
    let payload = r.unwrap_err();
    let msg = payload.downcast_ref::<String>().unwrap();
    assert!(
        msg.contains("cannot start a runtime from within a runtime"),
        "{msg}"
    );
    assert!(msg.contains(".await"), "{msg}");
    // Both still work afterwards.
    rt.block_on(async {});
    rt2.block_on(async {});
}

#[test]
fn spawn_outside_a_runtime_panics_with_advice() {
    let _watchdog = common::watchdog();
    let r = catch_unwind(|| drop(spawn(async {})));
    let payload = r.unwrap_err();
    let msg = payload.downcast_ref::<String>().unwrap();
    assert!(msg.contains("Runtime::block_on"), "{msg}");
    assert!(msg.contains("#[runtime::main]"), "{msg}");
}

#[test]
fn spawn_panics_at_the_callers_line() {
    let _watchdog = common::watchdog();
    let (message, at) = panic_of(|| drop(spawn(async {})));
    assert_eq!(at, here(line!() - 1), "{message}");
    let (message, at) = panic_of(|| drop(spawn_blocking(|| ())));
    assert_eq!(at, here(line!() - 1), "{message}");
    assert!(message.contains("Runtime::block_on"), "{message}");
}

#[test]
fn a_nested_block_on_panics_at_the_inner_call() {
    let _watchdog = common::watchdog();
    let (outer, inner) = (Runtime::new().unwrap(), Runtime::new().unwrap());
    let (message, at) = panic_of(|| {
        outer.block_on(async {
            inner.block_on(async {});
        })
    });
    assert_eq!(at, here(line!() - 3), "{message}");
    assert!(message.contains("within a runtime"), "{message}");
}

#[test]
fn into_panic_of_a_cancelled_task_panics_at_the_callers_line() {
    let _watchdog = common::watchdog();
    let rt = Runtime::new().unwrap();
    let err = rt.block_on(async {
        let handle = spawn(std::future::pending::<()>());
        handle.abort();
        handle.await.unwrap_err()
    });
    let (message, at) = panic_of(move || drop(err.into_panic()));
    assert_eq!(at, here(line!() - 1), "{message}");
}

#[test]
fn a_handle_polled_after_its_output_panics_with_a_message() {
    let _watchdog = common::watchdog();
    let rt = Runtime::new().unwrap();
    let (message, _) = panic_of(|| {
        rt.block_on(async {
            let mut handle = spawn(async { 1 });
            assert_eq!((&mut handle).await.unwrap(), 1);
            let _ = (&mut handle).await;
        })
    });
    assert!(
        message.contains("polled after it returned its output"),
        "{message}"
    );
    // The runtime is still usable.
    assert_eq!(rt.block_on(async { spawn(async { 2 }).await.unwrap() }), 2);
}

#[test]
fn an_out_of_range_priority_panics_at_the_callers_line() {
    let _watchdog = common::watchdog();
    let rt = runtime::Builder::new().priorities(2).build().unwrap();
    let (message, at) =
        panic_of(|| rt.block_on(async { drop(runtime::spawn_with_priority(2, async {})) }));
    assert!(message.contains("priority 2 is out of range"), "{message}");
    assert_eq!(at, here(line!() - 2));
    let (message, at) = panic_of(|| drop(rt.spawn_with_priority(5, async {})));
    assert!(message.contains("Builder::priorities"), "{message}");
    assert_eq!(at, here(line!() - 2));
}
