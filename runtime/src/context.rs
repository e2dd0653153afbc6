//! The thread's current runtime: the one whose `block_on` runs on this thread, which
//! `spawn`, `spawn_blocking` and `Handle::current` reach.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use crate::inner::Inner;

thread_local! {
    /// The runtime whose `block_on` runs on this thread.
    static CURRENT: RefCell<Option<Rc<Inner>>> = const { RefCell::new(None) };
    /// Which loop of `Builder::run` this thread runs.
    pub(crate) static LOOP_INDEX: Cell<Option<usize>> = const { Cell::new(None) };
}

const NO_RUNTIME: &str = "there is no evloop runtime on this thread: call `runtime::spawn` \
    (and `spawn_blocking`) inside `Runtime::block_on`, `#[runtime::main]` or \
    `#[runtime::test]`, or use `Runtime::spawn` on a runtime you hold";

const NESTED: &str = "cannot start a runtime from within a runtime: `block_on` was called \
    while another `block_on` runs on this thread. `.await` the future instead, or spawn it \
    with `runtime::spawn`";

/// Runs `f` with the current runtime, if there is one.
pub(crate) fn try_with_current<R>(f: impl FnOnce(&Inner) -> R) -> Option<R> {
    CURRENT.with(|c| c.borrow().as_deref().map(f))
}

/// Runs `f` with the current runtime.
///
/// # Panics
///
/// Outside `block_on`, with a message that says where to call it.
#[track_caller]
pub(crate) fn with_current<R>(f: impl FnOnce(&Inner) -> R) -> R {
    match CURRENT.with(|c| c.borrow().as_deref().map(f)) {
        Some(out) => out,
        None => panic!("{NO_RUNTIME}"),
    }
}

/// Makes `inner` the thread's current runtime until dropped.
pub(crate) struct CurrentGuard;

impl CurrentGuard {
    #[track_caller]
    pub(crate) fn enter(inner: &Rc<Inner>) -> CurrentGuard {
        let entered = CURRENT.with(|c| {
            let mut current = c.borrow_mut();
            if current.is_some() {
                return false;
            }
            *current = Some(inner.clone());
            true
        });
        if !entered {
            panic!("{NESTED}");
        }
        CurrentGuard
    }
}

impl Drop for CurrentGuard {
    fn drop(&mut self) {
        let _inner = CURRENT.with(|c| c.borrow_mut().take());
        reactor::budget::set_unconstrained();
    }
}

/// Which loop of [`Builder::run`](crate::Builder::run) runs on this thread (`0..n`), or
/// `None` on a thread that `Builder::run` did not start.
pub fn loop_index() -> Option<usize> {
    LOOP_INDEX.with(Cell::get)
}
