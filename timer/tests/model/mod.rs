//! The timer heap's model: a `BTreeMap` ordered by `(deadline, seq)`, and [`run`], which
//! applies a sequence of operations to a heap and to the model and checks that they
//! agree after each one. Shared by `heap_model.rs` (proptest) and the `timer_heap` fuzz
//! target (`fuzz/`), which includes this file by path.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::task::{Wake, Waker};
use std::time::{Duration, Instant};

use timer::{QueueId, TimerHeap, TimerKey};

/// Records its id when woken.
struct Recorder {
    id: usize,
    log: Arc<Mutex<Vec<usize>>>,
}

impl Wake for Recorder {
    fn wake(self: Arc<Self>) {
        self.log.lock().unwrap().push(self.id);
    }
}

#[derive(Clone, Debug)]
pub enum Op {
    /// A timer `ms` after the start.
    Insert(u64),
    /// Cancel the n-th key ever issued (maybe stale).
    Cancel(usize),
    /// Move the n-th key to `ms` after the start.
    Reset(usize, u64),
    /// Advance the clock by `ms` and fire.
    Fire(u64),
    /// Take a queue for the n-th duration of `DURATIONS`.
    Acquire(usize),
    /// Give back the n-th queue taken (if not given back yet).
    Release(usize),
    /// Arm a timer in the n-th queue taken, for `now + duration - early` ms.
    Arm(usize, u64),
}

/// The durations of the common-timeout queues, in ms: more than `MAX_IDLE`, so that
/// idle queues are dropped and reused.
pub const DURATIONS: [u64; 12] = [5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 1, 0];

/// What the model knows of the timer with id `i`: its heap key and, while set, its
/// model key.
struct Model {
    order: BTreeMap<(Instant, u64), usize>,
    live: HashMap<usize, (Instant, u64)>,
    keys: Vec<TimerKey>,
    seq: u64,
    /// Queues taken: their id, duration, and whether they are still held.
    queues: Vec<(QueueId, u64, bool)>,
}

fn check(heap: &TimerHeap, model: &Model) {
    heap.assert_invariants();
    assert_eq!(heap.len(), model.order.len());
    // A queue whose first timer was cancelled may wake the loop early (firing nothing),
    // never late.
    let next = model.order.keys().next().map(|k| k.0);
    match (heap.next_deadline(), next) {
        (Some(h), Some(m)) => assert!(h <= m, "the next deadline is late"),
        (None, Some(_)) => panic!("a timer is set but the heap has no next deadline"),
        (_, None) => {}
    }
    for (id, key) in model.keys.iter().enumerate() {
        let expected = model.live.get(&id).map(|k| k.0);
        assert_eq!(heap.deadline(*key), expected, "deadline of timer {id}");
        assert_eq!(heap.is_registered(*key), expected.is_some());
    }
}

pub fn run(ops: Vec<Op>) {
    let start = Instant::now();
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut heap = TimerHeap::new();
    let mut model = Model {
        order: BTreeMap::new(),
        live: HashMap::new(),
        keys: Vec::new(),
        seq: 0,
        queues: Vec::new(),
    };
    let mut now = start;
    for op in ops {
        match op {
            Op::Insert(ms) => {
                let id = model.keys.len();
                let deadline = start + Duration::from_millis(ms);
                let waker = Waker::from(Arc::new(Recorder {
                    id,
                    log: log.clone(),
                }));
                model.keys.push(heap.insert(deadline, Some(waker)));
                model.order.insert((deadline, model.seq), id);
                model.live.insert(id, (deadline, model.seq));
                model.seq += 1;
            }
            Op::Cancel(n) if !model.keys.is_empty() => {
                let id = n % model.keys.len();
                let was = model.live.remove(&id);
                if let Some(k) = was {
                    model.order.remove(&k);
                }
                assert_eq!(heap.cancel(model.keys[id]), was.is_some());
            }
            Op::Reset(n, ms) if !model.keys.is_empty() => {
                let id = n % model.keys.len();
                let deadline = start + Duration::from_millis(ms);
                let live = model.live.contains_key(&id);
                if live {
                    let old = model.live.insert(id, (deadline, model.seq)).unwrap();
                    model.order.remove(&old);
                    model.order.insert((deadline, model.seq), id);
                    model.seq += 1;
                }
                let key = heap.reset(model.keys[id], deadline);
                assert_eq!(key.is_some(), live);
                if let Some(key) = key {
                    model.keys[id] = key;
                }
            }
            Op::Cancel(_) | Op::Reset(..) => {}
            Op::Fire(ms) => {
                now += Duration::from_millis(ms);
                let later = model.order.split_off(&(now, u64::MAX));
                let due: Vec<usize> = std::mem::replace(&mut model.order, later)
                    .into_values()
                    .collect();
                for id in &due {
                    model.live.remove(id);
                }
                log.lock().unwrap().clear();
                assert_eq!(heap.fire_expired(now), due.len());
                assert_eq!(*log.lock().unwrap(), due, "fire order");
                assert!(
                    heap.next_deadline().is_none_or(|d| d > now),
                    "something due is left after a fire"
                );
            }
            Op::Acquire(n) => {
                let ms = DURATIONS[n];
                let id = heap.common_queue(Duration::from_millis(ms));
                assert_eq!(heap.queue_duration(id), Duration::from_millis(ms));
                model.queues.push((id, ms, true));
            }
            Op::Release(n) if !model.queues.is_empty() => {
                let i = n % model.queues.len();
                if model.queues[i].2 {
                    model.queues[i].2 = false;
                    heap.release_queue(model.queues[i].0);
                }
            }
            Op::Arm(n, early) => {
                let held: Vec<(QueueId, u64)> = model
                    .queues
                    .iter()
                    .filter(|q| q.2)
                    .map(|q| (q.0, q.1))
                    .collect();
                if held.is_empty() {
                    continue;
                }
                let (queue, ms) = held[n % held.len()];
                let id = model.keys.len();
                let deadline = (now + Duration::from_millis(ms))
                    .checked_sub(Duration::from_millis(early))
                    .unwrap_or(now)
                    .max(start);
                let waker = Waker::from(Arc::new(Recorder {
                    id,
                    log: log.clone(),
                }));
                model
                    .keys
                    .push(heap.insert_common(queue, deadline, Some(waker)));
                model.order.insert((deadline, model.seq), id);
                model.live.insert(id, (deadline, model.seq));
                model.seq += 1;
            }
            Op::Release(_) => {}
        }
        check(&heap, &model);
    }
    // Drain: everything left fires, in order.
    let rest: Vec<usize> = model.order.values().copied().collect();
    log.lock().unwrap().clear();
    assert_eq!(
        heap.fire_expired(start + Duration::from_secs(3600)),
        rest.len()
    );
    assert_eq!(*log.lock().unwrap(), rest);
    heap.assert_invariants();
    assert!(heap.is_empty());
    assert_eq!(heap.next_deadline(), None, "a proxy was left behind");
    for (id, _, held) in model.queues {
        if held {
            heap.release_queue(id);
        }
    }
    heap.assert_invariants();
}
