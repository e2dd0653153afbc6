//! The timer heap on its own: order, cancel, reset, stale keys and re-entrant wakes.

use std::sync::{Arc, Mutex};
use std::task::{Wake, Waker};
use std::time::{Duration, Instant};

use timer::{TimerHeap, TimerKey};

/// A waker that appends its id to a shared log.
fn recorder(id: u32, log: &Arc<Mutex<Vec<u32>>>) -> Waker {
    struct Recorder(u32, Arc<Mutex<Vec<u32>>>);
    impl Wake for Recorder {
        fn wake(self: Arc<Self>) {
            self.1.lock().unwrap().push(self.0);
        }
    }
    Waker::from(Arc::new(Recorder(id, log.clone())))
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Inserts timers `id` at `t0 + offsets[id]` ms, each with a recording waker.
fn heap_with(
    t0: Instant,
    offsets: &[u64],
    log: &Arc<Mutex<Vec<u32>>>,
) -> (TimerHeap, Vec<TimerKey>) {
    let mut heap = TimerHeap::new();
    let keys = offsets
        .iter()
        .enumerate()
        .map(|(id, &o)| heap.insert(t0 + ms(o), Some(recorder(id as u32, log))))
        .collect();
    heap.assert_invariants();
    (heap, keys)
}

fn fire_all(heap: &mut TimerHeap, log: &Arc<Mutex<Vec<u32>>>) -> Vec<u32> {
    log.lock().unwrap().clear();
    heap.fire_expired(Instant::now() + Duration::from_secs(3600));
    heap.assert_invariants();
    std::mem::take(&mut *log.lock().unwrap())
}

#[test]
fn equal_deadlines_fire_in_insertion_order() {
    let log = Arc::default();
    let t0 = Instant::now();
    let (mut heap, _) = heap_with(t0, &[5; 40], &log);
    assert_eq!(heap.fire_expired(t0 + ms(5)), 40);
    assert_eq!(*log.lock().unwrap(), (0..40).collect::<Vec<_>>());
    assert!(heap.is_empty());
}

#[test]
fn timers_fire_in_deadline_order_and_only_when_due() {
    let log = Arc::default();
    let t0 = Instant::now();
    let (mut heap, _) = heap_with(t0, &[30, 10, 20, 10, 0], &log);
    assert_eq!(heap.next_deadline(), Some(t0));
    assert_eq!(heap.fire_expired(t0 + ms(9)), 1);
    assert_eq!(heap.fire_expired(t0 + ms(9)), 0);
    assert_eq!(heap.fire_expired(t0 + ms(20)), 3);
    assert_eq!(heap.next_deadline(), Some(t0 + ms(30)));
    assert_eq!(*log.lock().unwrap(), [4, 1, 3, 2]);
    assert_eq!(heap.len(), 1);
}

#[test]
fn cancel_the_top_a_middle_and_the_last_entry() {
    let log = Arc::default();
    let t0 = Instant::now();
    let offsets: Vec<u64> = (0..20).collect();
    let (mut heap, keys) = heap_with(t0, &offsets, &log);
    // The top.
    assert!(heap.cancel(keys[0]));
    heap.assert_invariants();
    assert_eq!(heap.next_deadline(), Some(t0 + ms(1)));
    // A middle one.
    assert!(heap.cancel(keys[9]));
    heap.assert_invariants();
    // The last one inserted (the last slot of the heap array).
    assert!(heap.cancel(keys[19]));
    heap.assert_invariants();
    assert_eq!(heap.len(), 17);
    let expected: Vec<u32> = (1..19).filter(|&i| i != 9).collect();
    assert_eq!(fire_all(&mut heap, &log), expected);
}

#[test]
fn cancel_never_wakes() {
    let log = Arc::default();
    let t0 = Instant::now();
    let (mut heap, keys) = heap_with(t0, &[1, 2], &log);
    assert!(heap.cancel(keys[0]));
    assert_eq!(heap.fire_expired(t0 + ms(1)), 0);
    assert!(log.lock().unwrap().is_empty());
}

#[test]
fn reset_earlier_and_later() {
    let log = Arc::default();
    let t0 = Instant::now();
    let (mut heap, keys) = heap_with(t0, &[10, 20, 30, 40, 50], &log);
    assert_eq!(heap.reset(keys[4], t0 + ms(5)), Some(keys[4])); // later to earliest
    heap.assert_invariants();
    assert_eq!(heap.next_deadline(), Some(t0 + ms(5)));
    assert_eq!(heap.reset(keys[0], t0 + ms(45)), Some(keys[0])); // earliest to later
    heap.assert_invariants();
    assert_eq!(heap.deadline(keys[0]), Some(t0 + ms(45)));
    assert_eq!(heap.reset(keys[2], t0 + ms(20)), Some(keys[2])); // a tie: goes behind timer 1
    heap.assert_invariants();
    assert_eq!(heap.len(), 5);
    assert_eq!(fire_all(&mut heap, &log), [4, 1, 2, 3, 0]);
}

#[test]
fn reset_to_the_same_deadline_goes_behind_its_ties() {
    let log = Arc::default();
    let t0 = Instant::now();
    let (mut heap, keys) = heap_with(t0, &[7, 7, 7], &log);
    assert_eq!(heap.reset(keys[0], t0 + ms(7)), Some(keys[0]));
    assert_eq!(fire_all(&mut heap, &log), [1, 2, 0]);
}

#[test]
fn a_stale_key_does_nothing_even_after_its_slot_is_reused() {
    let log = Arc::default();
    let t0 = Instant::now();
    let (mut heap, keys) = heap_with(t0, &[1, 2], &log);
    // Stale after fire.
    assert_eq!(heap.fire_expired(t0 + ms(1)), 1);
    let fired = keys[0];
    assert!(!heap.is_registered(fired));
    assert!(!heap.cancel(fired));
    assert_eq!(heap.reset(fired, t0), None);
    assert!(!heap.set_waker(fired, Waker::noop()));
    assert_eq!(heap.deadline(fired), None);
    // Stale after cancel.
    assert!(heap.cancel(keys[1]));
    assert!(!heap.cancel(keys[1]));
    // The slots come back with new generations; the old keys do not reach them.
    let a = heap.insert(t0 + ms(3), Some(recorder(10, &log)));
    let b = heap.insert(t0 + ms(4), Some(recorder(11, &log)));
    assert_ne!(a, fired);
    for stale in [keys[0], keys[1]] {
        assert!(!heap.cancel(stale));
        assert_eq!(heap.reset(stale, t0 + ms(100)), None);
        assert_eq!(heap.deadline(stale), None);
    }
    assert_eq!(heap.deadline(a), Some(t0 + ms(3)));
    assert_eq!(heap.deadline(b), Some(t0 + ms(4)));
    heap.assert_invariants();
    log.lock().unwrap().clear();
    assert_eq!(fire_all(&mut heap, &log), [10, 11]);
}

#[test]
fn a_key_from_another_heap_never_panics() {
    let mut big = TimerHeap::new();
    let t0 = Instant::now();
    let far = (0..10)
        .map(|i| big.insert(t0 + ms(i), None))
        .last()
        .unwrap();
    let mut small = TimerHeap::new();
    assert!(!small.cancel(far));
    assert_eq!(small.reset(far, t0), None);
    assert!(!small.is_registered(far));
}

#[test]
fn set_waker_replaces_the_waker() {
    let log = Arc::default();
    let t0 = Instant::now();
    let mut heap = TimerHeap::new();
    let key = heap.insert(t0, None);
    assert!(heap.set_waker(key, &recorder(1, &log)));
    assert!(heap.set_waker(key, &recorder(2, &log)));
    assert_eq!(heap.fire_expired(t0), 1);
    assert_eq!(*log.lock().unwrap(), [2]);
}

#[test]
fn timers_without_wakers_count_as_fired() {
    let mut heap = TimerHeap::with_capacity(8);
    let t0 = Instant::now();
    for i in 0..8 {
        heap.insert(t0 + ms(i), None);
    }
    assert_eq!(heap.fire_expired(t0 + ms(3)), 4);
    assert_eq!(heap.len(), 4);
}

#[test]
fn drain_expired_hands_back_the_wakers_unwoken() {
    let log = Arc::default();
    let t0 = Instant::now();
    let (mut heap, _) = heap_with(t0, &[2, 1, 3], &log);
    let mut wakers = Vec::new();
    assert_eq!(heap.drain_expired(t0 + ms(2), &mut wakers), 2);
    assert!(log.lock().unwrap().is_empty());
    wakers.into_iter().for_each(Waker::wake);
    assert_eq!(*log.lock().unwrap(), [1, 0]);
}

#[test]
fn slots_are_reused_and_the_heap_stays_compact() {
    let mut heap = TimerHeap::new();
    let t0 = Instant::now();
    for round in 0..100 {
        let keys: Vec<_> = (0..50)
            .map(|i| heap.insert(t0 + ms((i * 7 + round) % 13), None))
            .collect();
        for k in keys.iter().step_by(2) {
            assert!(heap.cancel(*k));
        }
        heap.assert_invariants();
        assert_eq!(heap.fire_expired(t0 + ms(20)), 25);
        assert!(heap.is_empty());
    }
}

#[test]
fn a_panicking_waker_in_fire_expired_still_lets_the_rest_wake() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Wake, Waker};
    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    struct Bad;
    impl Wake for Bad {
        fn wake(self: Arc<Self>) {
            panic!("bad waker");
        }
    }
    let count = Arc::new(Count(AtomicUsize::new(0)));
    let mut heap = TimerHeap::new();
    let t0 = Instant::now();
    heap.insert(t0, Some(Waker::from(Arc::new(Bad))));
    heap.insert(t0 + ms(1), Some(Waker::from(count.clone())));
    heap.insert(t0 + ms(2), Some(Waker::from(Arc::new(Bad))));
    heap.insert(t0 + ms(3), Some(Waker::from(count.clone())));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        heap.fire_expired(t0 + ms(5))
    }));
    assert!(r.is_err());
    assert_eq!(count.0.load(Ordering::SeqCst), 2);
    assert!(heap.is_empty());
    heap.assert_invariants();
}
