//! Misuse panics with advice.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};

use runtime::{Runtime, spawn};

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
