//! `CancellationToken`: cancel and wait, parents and children, cancel-safety, the drop
//! guard, a cancel from another thread while the loop waits, and bounded memory.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::{Future, poll_fn};
use std::pin::pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::{Duration, Instant};

use runtime::sync::{CancellationToken, WaitForCancellationFuture, WaitForCancellationFutureOwned};
use runtime::{Runtime, spawn, yield_now};

/// Counts the bytes allocated and not yet freed by each thread, to see memory held.
struct CountingAlloc;

thread_local! {
    static LIVE_BYTES: Cell<isize> = const { Cell::new(0) };
}

fn count(delta: isize) {
    // `try_with`: a thread's last frees run after its thread-locals are gone.
    let _ = LIVE_BYTES.try_with(|live| live.set(live.get() + delta));
}

// SAFETY: every call is forwarded to `System` with the same arguments; the counting
// touches only a const-initialised thread-local `Cell`, which never allocates.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as isize);
        // SAFETY: the caller's contract for `alloc` is `System.alloc`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(layout.size() as isize));
        // SAFETY: `ptr` was allocated by `System` with `layout` (see `alloc`).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size as isize - layout.size() as isize);
        // SAFETY: the caller's contract for `realloc` is `System.realloc`'s.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

fn live_bytes() -> isize {
    LIVE_BYTES.with(Cell::get)
}

/// Counts the wakers made from it that are still alive, and its wakes.
#[derive(Default)]
struct CountingWaker {
    wakes: AtomicUsize,
}

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn tokens_and_their_futures_are_send_and_sync() {
    let _watchdog = common::watchdog();
    fn send_sync<T: Send + Sync>() {}
    send_sync::<CancellationToken>();
    send_sync::<WaitForCancellationFuture<'static>>();
    send_sync::<WaitForCancellationFutureOwned>();
    send_sync::<runtime::sync::DropGuard>();
}

#[test]
fn cancel_wakes_every_waiting_task_on_every_clone() {
    let _watchdog = common::watchdog();
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let token = CancellationToken::new();
        let woke = Rc::new(Cell::new(0));
        let tasks: Vec<_> = (0..10)
            .map(|_| {
                let (token, woke) = (token.clone(), woke.clone());
                spawn(async move {
                    token.cancelled().await;
                    woke.set(woke.get() + 1);
                })
            })
            .collect();
        for _ in 0..3 {
            yield_now().await;
        }
        assert_eq!(woke.get(), 0);
        assert!(!token.is_cancelled());
        token.clone().cancel();
        assert!(token.is_cancelled());
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(woke.get(), 10);
        // Cancelling again does nothing, and waiting now is ready at once.
        token.cancel();
        token.cancelled().await;
    });
}

#[test]
fn a_parent_cancels_its_descendants_and_not_the_other_way_round() {
    let _watchdog = common::watchdog();
    let root = CancellationToken::new();
    let a = root.child_token();
    let b = root.child_token();
    let a1 = a.child_token();
    let a2 = a.child_token();
    a1.cancel();
    assert!(a1.is_cancelled());
    assert!(!a.is_cancelled() && !a2.is_cancelled() && !root.is_cancelled());
    a.cancel();
    assert!(a2.is_cancelled());
    assert!(!root.is_cancelled() && !b.is_cancelled());
    root.cancel();
    assert!(b.is_cancelled());
    // A child of a cancelled token is born cancelled.
    assert!(root.child_token().is_cancelled());
    assert!(a1.child_token().is_cancelled());
}

#[test]
fn a_grandchild_is_cancelled_after_its_parent_token_is_dropped() {
    let _watchdog = common::watchdog();
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let root = CancellationToken::new();
        let child = root.child_token();
        let grandchild = child.child_token();
        drop(child);
        let waiter = spawn(grandchild.clone().cancelled_owned());
        yield_now().await;
        root.cancel();
        waiter.await.unwrap();
        assert!(grandchild.is_cancelled());
    });
}

#[test]
fn a_dropped_waiter_gives_back_its_waker() {
    let _watchdog = common::watchdog();
    let token = CancellationToken::new();
    let counter = Arc::new(CountingWaker::default());
    let waker = Waker::from(counter.clone());
    let mut cx = Context::from_waker(&waker);
    {
        let mut wait = pin!(token.cancelled());
        assert!(wait.as_mut().poll(&mut cx).is_pending());
        // Polled again with the same waker: still one registration.
        assert!(wait.as_mut().poll(&mut cx).is_pending());
        assert!(Arc::strong_count(&counter) > 2);
    }
    // Only `counter` and `waker` are left: the token kept no clone.
    assert_eq!(Arc::strong_count(&counter), 2);
    token.cancel();
    assert_eq!(
        counter.wakes.load(Ordering::SeqCst),
        0,
        "a dropped waiter is not woken"
    );
}

#[test]
fn a_waiter_polled_with_a_new_waker_wakes_only_the_new_one() {
    let _watchdog = common::watchdog();
    let token = CancellationToken::new();
    let (old, new) = (
        Arc::new(CountingWaker::default()),
        Arc::new(CountingWaker::default()),
    );
    let (old_waker, new_waker) = (Waker::from(old.clone()), Waker::from(new.clone()));
    let mut wait = pin!(token.cancelled());
    assert!(
        wait.as_mut()
            .poll(&mut Context::from_waker(&old_waker))
            .is_pending()
    );
    assert!(
        wait.as_mut()
            .poll(&mut Context::from_waker(&new_waker))
            .is_pending()
    );
    assert_eq!(Arc::strong_count(&old), 2, "the old waker was released");
    token.cancel();
    assert_eq!(old.wakes.load(Ordering::SeqCst), 0);
    assert_eq!(new.wakes.load(Ordering::SeqCst), 1);
    assert!(
        wait.as_mut()
            .poll(&mut Context::from_waker(&new_waker))
            .is_ready()
    );
}

#[test]
fn the_drop_guard_cancels_unless_disarmed() {
    let _watchdog = common::watchdog();
    let token = CancellationToken::new();
    let guard = token.clone().drop_guard();
    assert!(!guard.token().is_cancelled());
    let token2 = guard.disarm();
    assert!(!token.is_cancelled());
    {
        let _guard = token2.drop_guard();
    }
    assert!(token.is_cancelled());
}

#[test]
fn run_until_cancelled_gives_the_output_or_none() {
    let _watchdog = common::watchdog();
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let token = CancellationToken::new();
        assert_eq!(token.run_until_cancelled(async { 5 }).await, Some(5));
        let stopper = token.clone();
        spawn(async move {
            yield_now().await;
            stopper.cancel();
        });
        let out = token
            .run_until_cancelled(std::future::pending::<u32>())
            .await;
        assert_eq!(out, None);
        // Both ready at once: the cancel wins.
        assert_eq!(token.run_until_cancelled(async { 6 }).await, None);
    });
}

/// The loop blocks in its wait with nothing to do but a ten-second timer; another thread
/// cancels, and the loop wakes for it at once instead of at the timer.
#[test]
fn a_cancel_from_another_thread_wakes_the_waiting_loop() {
    let _watchdog = common::watchdog();
    let rt = Runtime::new().unwrap();
    let token = CancellationToken::new();
    let (registered_tx, registered_rx) = mpsc::channel();
    let canceller = {
        let token = token.clone();
        thread::spawn(move || {
            registered_rx.recv().unwrap();
            // Give the loop time to reach its wait; the test holds whenever the cancel
            // comes, this only makes it likely to find the loop blocked.
            thread::sleep(Duration::from_millis(50));
            token.cancel();
        })
    };
    let started = Instant::now();
    let turns_before = rt.turns();
    let waited = rt.block_on(async {
        let task = spawn({
            let token = token.clone();
            async move { token.cancelled().await }
        });
        let mut wait = pin!(token.cancelled());
        poll_fn(|cx| {
            let _ = wait.as_mut().poll(cx);
            Poll::Ready(())
        })
        .await;
        registered_tx.send(()).unwrap();
        let out = runtime::time::timeout(Duration::from_secs(10), wait).await;
        task.await.unwrap();
        out
    });
    canceller.join().unwrap();
    assert!(waited.is_ok(), "the cancel did not wake the loop");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let turns = rt.turns() - turns_before;
    assert!(
        turns < 20,
        "the loop spun instead of waiting: {turns} turns"
    );
}

/// Many rounds of a cancel racing a registration on another thread: every waiter wakes.
#[test]
fn a_racing_cancel_loses_no_wakeup() {
    let _watchdog = common::watchdog();
    let rt = Runtime::new().unwrap();
    for _ in 0..500 {
        let token = CancellationToken::new();
        let canceller = {
            let token = token.clone();
            thread::spawn(move || token.cancel())
        };
        let out = rt.block_on(async {
            let waiters: Vec<_> = (0..3)
                .map(|_| spawn(token.clone().cancelled_owned()))
                .collect();
            let own = runtime::time::timeout(Duration::from_secs(10), token.cancelled()).await;
            for w in waiters {
                w.await.unwrap();
            }
            own
        });
        canceller.join().unwrap();
        assert!(out.is_ok(), "a wakeup was lost");
    }
}

/// A long-lived parent that makes and drops children (and grandchildren, and waiters)
/// holds no more memory after 100,000 of them than after the first thousand.
#[test]
fn children_that_are_dropped_do_not_leak() {
    let _watchdog = common::watchdog();
    let root = CancellationToken::new();
    let counter = Arc::new(CountingWaker::default());
    let waker = Waker::from(counter.clone());
    let mut cx = Context::from_waker(&waker);
    let keep = root.child_token(); // a sibling that stays, so the tree is not trivial
    let round = |cx: &mut Context<'_>| {
        let child = root.child_token();
        let grandchild = child.child_token();
        let mut wait = pin!(grandchild.cancelled());
        assert!(wait.as_mut().poll(cx).is_pending());
        drop(child);
    };
    for _ in 0..1_000 {
        round(&mut cx);
    }
    let warm = live_bytes();
    for _ in 0..100_000 {
        round(&mut cx);
    }
    let after = live_bytes();
    assert!(
        after - warm <= 0,
        "{} bytes more after 100,000 children",
        after - warm
    );
    assert_eq!(Arc::strong_count(&counter), 2, "every waker was given back");
    root.cancel();
    assert!(keep.is_cancelled());
}
