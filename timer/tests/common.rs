//! Common-timeout queues: their timers fire in deadline order with the heap's, never
//! early; cancelling the first one leaves a stale proxy that fires nothing; out-of-order
//! deadlines still fire on time; `reset` moves a timer to the heap; idle queues are
//! reused and bounded. Then the same through `CommonTimeout`, `Sleep` and `Timeout`.

use std::future::{Future, pending, ready};
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use timer::{CommonTimeout, Handle, MAX_IDLE, TimerHeap};

struct Recorder {
    id: usize,
    log: Arc<Mutex<Vec<usize>>>,
}

impl Wake for Recorder {
    fn wake(self: Arc<Self>) {
        self.log.lock().unwrap().push(self.id);
    }
}

fn recorder(id: usize, log: &Arc<Mutex<Vec<usize>>>) -> Option<Waker> {
    Some(Waker::from(Arc::new(Recorder {
        id,
        log: log.clone(),
    })))
}

const MS: Duration = Duration::from_millis(1);

#[test]
fn queued_and_heap_timers_fire_in_one_order() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut heap = TimerHeap::new();
    let t0 = Instant::now();
    let q = heap.common_queue(MS * 10);
    heap.insert_common(q, t0 + MS * 10, recorder(0, &log));
    heap.insert(t0 + MS * 10, recorder(1, &log)); // same deadline, set later
    heap.insert(t0 + MS * 5, recorder(2, &log));
    heap.insert_common(q, t0 + MS * 12, recorder(3, &log));
    heap.insert(t0 + MS * 11, recorder(4, &log));
    heap.assert_invariants();
    assert_eq!(heap.len(), 5);
    assert_eq!(heap.next_deadline(), Some(t0 + MS * 5));
    assert_eq!(
        heap.fire_expired(t0 + MS * 9),
        1,
        "only the 5 ms timer is due"
    );
    assert_eq!(heap.next_deadline(), Some(t0 + MS * 10));
    assert_eq!(heap.fire_expired(t0 + MS * 20), 4);
    assert_eq!(*log.lock().unwrap(), [2, 0, 1, 4, 3]);
    assert!(heap.is_empty());
    assert_eq!(heap.next_deadline(), None);
    heap.assert_invariants();
    heap.release_queue(q);
}

#[test]
fn cancelling_the_first_timer_leaves_a_proxy_that_fires_nothing() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut heap = TimerHeap::new();
    let t0 = Instant::now();
    let q = heap.common_queue(MS * 10);
    let first = heap.insert_common(q, t0 + MS * 10, recorder(0, &log));
    heap.insert_common(q, t0 + MS * 15, recorder(1, &log));
    assert!(heap.cancel(first));
    assert!(!heap.cancel(first), "a stale key does nothing");
    heap.assert_invariants();
    assert_eq!(heap.len(), 1);
    // The proxy still stands at 10 ms: the loop may wake then, but nothing fires.
    assert_eq!(heap.next_deadline(), Some(t0 + MS * 10));
    assert_eq!(heap.fire_expired(t0 + MS * 10), 0);
    assert!(log.lock().unwrap().is_empty(), "nothing fires early");
    assert_eq!(heap.next_deadline(), Some(t0 + MS * 15));
    assert_eq!(heap.fire_expired(t0 + MS * 15), 1);
    assert_eq!(*log.lock().unwrap(), [1]);
    // Emptied by a cancel, the queue's proxy leaves the heap when it comes up.
    let last = heap.insert_common(q, t0 + MS * 25, None);
    assert!(heap.cancel(last));
    assert_eq!(heap.next_deadline(), Some(t0 + MS * 25));
    assert_eq!(heap.fire_expired(t0 + MS * 30), 0);
    assert_eq!(heap.next_deadline(), None);
    heap.assert_invariants();
    heap.release_queue(q);
}

#[test]
fn out_of_order_deadlines_find_their_place_or_go_to_the_heap() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut heap = TimerHeap::new();
    let t0 = Instant::now();
    let q = heap.common_queue(MS * 100);
    for i in 0..20u32 {
        heap.insert_common(q, t0 + MS * (100 + i), recorder(i as usize, &log));
    }
    // A little early: a short walk back from the tail.
    heap.insert_common(q, t0 + MS * 117 + MS / 2, recorder(100, &log));
    // Before the head: it becomes the head (the walk is long, so it goes to the heap;
    // either way it is first).
    heap.insert_common(q, t0 + MS * 50, recorder(101, &log));
    heap.assert_invariants();
    assert_eq!(heap.next_deadline(), Some(t0 + MS * 50));
    assert_eq!(heap.len(), 22);
    assert_eq!(heap.fire_expired(t0 + MS * 200), 22);
    let mut expected: Vec<usize> = vec![101];
    expected.extend(0..18);
    expected.push(100);
    expected.extend(18..20);
    assert_eq!(*log.lock().unwrap(), expected);
    heap.assert_invariants();
    heap.release_queue(q);
}

#[test]
fn a_timer_armed_before_the_head_moves_the_proxy_up() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut heap = TimerHeap::new();
    let t0 = Instant::now();
    let q = heap.common_queue(MS * 10);
    heap.insert_common(q, t0 + MS * 10, recorder(0, &log));
    heap.insert_common(q, t0 + MS * 4, recorder(1, &log));
    heap.assert_invariants();
    assert_eq!(heap.next_deadline(), Some(t0 + MS * 4));
    assert_eq!(heap.fire_expired(t0 + MS * 4), 1);
    assert_eq!(heap.fire_expired(t0 + MS * 10), 1);
    assert_eq!(*log.lock().unwrap(), [1, 0]);
    heap.release_queue(q);
}

#[test]
fn reset_moves_a_queued_timer_within_its_queue_or_to_the_heap() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut heap = TimerHeap::new();
    let t0 = Instant::now();
    let q = heap.common_queue(MS * 10);
    let a = heap.insert_common(q, t0 + MS * 10, recorder(0, &log));
    let b = heap.insert_common(q, t0 + MS * 11, recorder(1, &log));
    let a = heap.reset(a, t0 + MS * 30).expect("a is set");
    let b = heap.reset(b, t0 + MS * 2).expect("b is set");
    heap.assert_invariants();
    assert_eq!(heap.deadline(a), Some(t0 + MS * 30));
    assert_eq!(heap.deadline(b), Some(t0 + MS * 2));
    assert_eq!(heap.len(), 2);
    assert_eq!(heap.fire_expired(t0 + MS * 29), 1);
    assert_eq!(heap.fire_expired(t0 + MS * 30), 1);
    assert_eq!(*log.lock().unwrap(), [1, 0]);
    assert_eq!(heap.next_deadline(), None);
    // Far before a long queue's tail: to the heap, and still on time.
    log.lock().unwrap().clear();
    let keys: Vec<_> = (0..20u32)
        .map(|i| heap.insert_common(q, t0 + MS * (100 + i), recorder(i as usize, &log)))
        .collect();
    let moved = heap.reset(keys[19], t0 + MS * 50).expect("set");
    assert_ne!(
        moved, keys[19],
        "too early for its queue: to the heap, with a new key"
    );
    assert!(!heap.is_registered(keys[19]));
    assert_eq!(heap.deadline(moved), Some(t0 + MS * 50));
    assert_eq!(
        heap.reset(keys[0], t0 + MS * 200),
        Some(keys[0]),
        "fits: stays queued"
    );
    heap.assert_invariants();
    assert_eq!(heap.fire_expired(t0 + MS * 150), 19);
    assert_eq!(heap.fire_expired(t0 + MS * 200), 1);
    let mut expected = vec![19];
    expected.extend(1..19);
    expected.push(0);
    assert_eq!(*log.lock().unwrap(), expected);
    heap.release_queue(q);
}

#[test]
fn queues_are_shared_by_duration_and_idle_ones_are_bounded() {
    let mut heap = TimerHeap::new();
    let t0 = Instant::now();
    let a = heap.common_queue(MS * 7);
    let b = heap.common_queue(MS * 7);
    assert_eq!(a, b, "one queue per duration");
    heap.release_queue(a);
    heap.release_queue(b);
    // Many durations, each taken, armed, and given back with a timer still queued.
    let ids: Vec<_> = (1..=3 * MAX_IDLE as u32)
        .map(|i| {
            let q = heap.common_queue(MS * (100 + i));
            heap.insert_common(q, t0 + MS * (100 + i), None);
            heap.release_queue(q);
            q
        })
        .collect();
    heap.assert_invariants();
    // A queue with timers is never dropped: every timer is still there.
    assert_eq!(heap.len(), ids.len());
    assert_eq!(heap.fire_expired(t0 + MS * 1000), ids.len());
    assert_eq!(heap.next_deadline(), None, "no proxy is left behind");
    // Now all are idle; making new ones drops the oldest idle ones, and reuses them.
    let fresh: Vec<_> = (0..2 * MAX_IDLE as u32)
        .map(|i| heap.common_queue(MS * (5000 + i)))
        .collect();
    heap.assert_invariants();
    for q in &fresh {
        heap.release_queue(*q);
    }
    assert!(
        fresh.iter().all(|q| ids.contains(q) || *q == a),
        "idle queues are reused before the list grows"
    );
    let mut distinct = fresh.clone();
    distinct.sort_by_key(|q| format!("{q:?}"));
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        fresh.len(),
        "a queue in use is never handed out twice"
    );
    heap.assert_invariants();
}

fn noop_cx() -> Context<'static> {
    Context::from_waker(Waker::noop())
}

#[test]
fn common_sleeps_fire_at_their_deadline_and_cancel_on_drop() {
    let timers = Handle::new();
    let _guard = timers.enter();
    let ct = CommonTimeout::new(MS * 2);
    assert_eq!(ct.duration(), MS * 2);
    let mut cx = noop_cx();
    let start = Instant::now();
    let mut kept = ct.sleep();
    assert!(Pin::new(&mut kept).poll(&mut cx).is_pending());
    {
        let mut dropped = ct.sleep();
        assert!(Pin::new(&mut dropped).poll(&mut cx).is_pending());
        assert_eq!(timers.len(), 2);
    }
    assert_eq!(timers.len(), 1, "a dropped sleep leaves its queue");
    assert!(kept.deadline() >= start + MS * 2 - MS / 1000);
    // Not yet: firing before the deadline does nothing.
    assert_eq!(timers.fire_expired(kept.deadline() - MS / 1000), 0);
    assert!(Pin::new(&mut kept).poll(&mut cx).is_pending());
    assert_eq!(timers.fire_expired(kept.deadline()), 1);
    assert!(Pin::new(&mut kept).poll(&mut cx).is_ready());
    assert!(kept.is_elapsed());
    assert!(timers.is_empty());
}

#[test]
fn a_common_sleep_is_set_when_made_and_fires_at_the_next_turn_once_due() {
    let timers = Handle::new();
    let _guard = timers.enter();
    let ct = CommonTimeout::new(Duration::ZERO);
    let mut s = ct.sleep();
    assert_eq!(timers.len(), 1, "set when made, before any poll");
    // Its deadline has passed, but it is the loop's turn that fires it.
    assert!(Pin::new(&mut s).poll(&mut noop_cx()).is_pending());
    assert_eq!(timers.fire_expired(s.deadline()), 1);
    assert!(Pin::new(&mut s).poll(&mut noop_cx()).is_ready());
    assert!(timers.is_empty());
    assert_eq!(timers.next_deadline(), None);
}

#[test]
fn sleep_until_common_shares_the_queue_of_its_duration() {
    let timers = Handle::new();
    let _guard = timers.enter();
    let t0 = Instant::now();
    let ct = CommonTimeout::new(MS * 30);
    let mut cx = noop_cx();
    let mut a = ct.sleep_until(t0 + MS * 30);
    let mut b = timers.sleep_until_common(MS * 30, t0 + MS * 31);
    let mut c = timers.sleep_until_common(MS * 7, t0 + MS * 7);
    for s in [&mut a, &mut b, &mut c] {
        assert!(Pin::new(s).poll(&mut cx).is_pending());
    }
    assert_eq!(timers.len(), 3);
    assert_eq!(timers.next_deadline(), Some(t0 + MS * 7));
    assert_eq!(timers.fire_expired(t0 + MS * 30), 2);
    assert!(Pin::new(&mut a).poll(&mut cx).is_ready());
    assert!(Pin::new(&mut b).poll(&mut cx).is_pending());
    assert!(Pin::new(&mut c).poll(&mut cx).is_ready());
    drop(b);
    assert!(timers.is_empty());
}

#[test]
fn reset_moves_a_common_sleep_before_or_after_its_first_poll() {
    let timers = Handle::new();
    let _guard = timers.enter();
    let ct = CommonTimeout::new(Duration::from_secs(30));
    let mut cx = noop_cx();
    let t0 = Instant::now();
    let mut unpolled = ct.sleep();
    Pin::new(&mut unpolled).reset(t0 + MS * 3);
    assert!(Pin::new(&mut unpolled).poll(&mut cx).is_pending());
    let mut polled = ct.sleep();
    assert!(Pin::new(&mut polled).poll(&mut cx).is_pending());
    Pin::new(&mut polled).reset(t0 + MS);
    assert!(polled.is_registered_in(&timers));
    assert_eq!(timers.len(), 2);
    assert_eq!(timers.next_deadline(), Some(t0 + MS));
    assert_eq!(timers.fire_expired(t0 + MS * 3), 2);
    assert!(Pin::new(&mut polled).poll(&mut cx).is_ready());
    assert!(Pin::new(&mut unpolled).poll(&mut cx).is_ready());
}

#[test]
fn common_timeouts_race_like_timeouts() {
    let timers = Handle::new();
    let _guard = timers.enter();
    let ct = CommonTimeout::new(Duration::from_secs(5));
    let mut cx = noop_cx();
    let won = pin!(ct.timeout(ready(7))).poll(&mut cx);
    assert_eq!(won, Poll::Ready(Ok(7)));
    assert!(timers.is_empty(), "a ready future sets no timer");
    let mut lost = pin!(ct.timeout(pending::<()>()));
    assert!(lost.as_mut().poll(&mut cx).is_pending());
    let deadline = lost.deadline();
    assert_eq!(timers.fire_expired(deadline), 1);
    assert!(matches!(lost.as_mut().poll(&mut cx), Poll::Ready(Err(_))));
}

#[test]
fn a_common_timeout_outlives_its_handles_while_sleeps_use_it() {
    let timers = Handle::new();
    let _guard = timers.enter();
    let mut cx = noop_cx();
    let mut sleeps = Vec::new();
    for _ in 0..3 {
        // Each handle is dropped at once; its sleeps keep the queue.
        let ct = CommonTimeout::new(MS * 4).clone();
        sleeps.push(ct.sleep());
    }
    for s in &mut sleeps {
        assert!(Pin::new(s).poll(&mut cx).is_pending());
    }
    let last = sleeps[2].deadline();
    assert_eq!(timers.fire_expired(last), 3);
    for s in &mut sleeps {
        assert!(Pin::new(s).poll(&mut cx).is_ready());
    }
}

#[test]
fn a_common_sleep_of_a_shut_down_heap_is_woken_then_panics() {
    #[derive(Default)]
    struct Count(std::sync::atomic::AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
    let timers = Handle::new();
    let count = Arc::new(Count::default());
    let waker = Waker::from(count.clone());
    let mut cx = Context::from_waker(&waker);
    let ct = CommonTimeout::new_in(&timers, Duration::from_secs(3600));
    let mut s = ct.sleep();
    assert!(Pin::new(&mut s).poll(&mut cx).is_pending());
    timers.shutdown();
    assert_eq!(
        count.0.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "woken"
    );
    let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = Pin::new(&mut s).poll(&mut cx);
    }));
    let message = polled.expect_err("a sleep of a dead heap panics");
    let message = message
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| message.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    assert!(message.contains("dropped"), "unexpected message: {message}");
}
