//! `JoinSet`: join order, panics, aborts, drop, length, use from a task, and the cost of
//! joining a large set.

mod common;

use std::cell::{Cell, RefCell};
use std::future::{Future, poll_fn};
use std::pin::pin;
use std::rc::Rc;
use std::task::Poll;

use runtime::{JoinSet, Runtime, spawn, yield_now};

/// Counts its drops in a shared counter: put one in a future to see it dropped.
struct DropGuard(Rc<Cell<usize>>);

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

/// Yields `n` times.
async fn yields(n: usize) {
    for _ in 0..n {
        yield_now().await;
    }
}

#[test]
fn tasks_are_joined_in_the_order_they_finish() {
    let _watchdog = common::watchdog();
    let rt = Runtime::new().unwrap();
    let order = rt.block_on(async {
        let mut set = JoinSet::new();
        // Spawned 0..6, finishing 5, 4, .., 0: task `i` yields `5 - i` times.
        for i in 0..6 {
            set.spawn(async move {
                yields(5 - i).await;
                i
            });
        }
        let mut order = Vec::new();
        while let Some(r) = set.join_next().await {
            order.push(r.unwrap());
        }
        order
    });
    assert_eq!(order, [5, 4, 3, 2, 1, 0]);
}

#[test]
fn an_empty_set_joins_none_at_once() {
    let _watchdog = common::watchdog();
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let mut set: JoinSet<()> = JoinSet::default();
        assert!(set.is_empty());
        assert!(set.join_next().await.is_none());
        assert!(set.try_join_next().is_none());
        assert_eq!(format!("{set:?}"), "JoinSet { len: 0 }");
    });
}

#[test]
fn a_panic_is_that_tasks_error_and_the_others_go_on() {
    let _watchdog = common::watchdog();
    let rt = Runtime::new().unwrap();
    let (ok, panics) = rt.block_on(async {
        let mut set = JoinSet::new();
        for i in 0..10u32 {
            set.spawn(async move {
                yields(i as usize % 3).await;
                if i == 4 {
                    panic!("task {i} fails");
                }
                i
            });
        }
        let (mut ok, mut panics) = (Vec::new(), Vec::new());
        while let Some(r) = set.join_next().await {
            match r {
                Ok(i) => ok.push(i),
                Err(e) => {
                    assert!(e.is_panic(), "{e}");
                    panics.push(e.to_string());
                }
            }
        }
        ok.sort_unstable();
        (ok, panics)
    });
    assert_eq!(ok, [0, 1, 2, 3, 5, 6, 7, 8, 9]);
    assert_eq!(panics, ["task panicked: task 4 fails"]);
}

#[test]
fn an_aborted_task_is_cancelled_and_a_finished_one_keeps_its_output() {
    let _watchdog = common::watchdog();
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let dropped = Rc::new(Cell::new(0));
        let mut set = JoinSet::new();
        // Aborted before it joins the set.
        let guard = DropGuard(dropped.clone());
        let handle = spawn(async move {
            let _guard = guard;
            std::future::pending::<u32>().await
        });
        handle.abort();
        assert_eq!(dropped.get(), 1, "abort drops the future at once");
        set.insert(handle);
        // Finished before `abort_all`: its output survives.
        set.spawn(async { 7 });
        yield_now().await;
        set.abort_all();
        let mut results: Vec<_> = Vec::new();
        while let Some(r) = set.join_next().await {
            results.push(r.map_err(|e| e.is_cancelled()));
        }
        results.sort();
        assert_eq!(results, [Ok(7), Err(true)]);
    });
}

#[test]
fn abort_all_cancels_every_task_and_drops_its_future() {
    let _watchdog = common::watchdog();
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let dropped = Rc::new(Cell::new(0));
        let mut set = JoinSet::new();
        for _ in 0..20 {
            let guard = DropGuard(dropped.clone());
            set.spawn(async move {
                let _guard = guard;
                std::future::pending::<()>().await;
            });
        }
        // Let them all start and wait.
        yield_now().await;
        assert_eq!(dropped.get(), 0);
        set.abort_all();
        assert_eq!(dropped.get(), 20);
        assert_eq!(set.len(), 20, "aborted tasks stay until joined");
        let mut cancelled = 0;
        while let Some(r) = set.join_next().await {
            assert!(r.unwrap_err().is_cancelled());
            cancelled += 1;
        }
        assert_eq!(cancelled, 20);
        assert!(set.is_empty());
    });
}

#[test]
fn dropping_the_set_aborts_its_tasks() {
    let _watchdog = common::watchdog();
    let rt = Runtime::new().unwrap();
    let dropped = Rc::new(Cell::new(0));
    let ran_on = Rc::new(Cell::new(0));
    let gate = Rc::new(Cell::new(false));
    rt.block_on(async {
        let mut set = JoinSet::new();
        for _ in 0..10 {
            let (guard, ran_on, gate) = (DropGuard(dropped.clone()), ran_on.clone(), gate.clone());
            set.spawn(async move {
                let _guard = guard;
                while !gate.get() {
                    yield_now().await;
                }
                ran_on.set(ran_on.get() + 1);
            });
        }
        yields(3).await; // every task has started and waits at the gate
        assert_eq!(dropped.get(), 0);
        drop(set);
        assert_eq!(dropped.get(), 10);
        gate.set(true);
        yields(5).await;
    });
    assert_eq!(ran_on.get(), 0, "no task ran past the drop");
    assert_eq!(rt.live_tasks(), 0);
}

#[test]
fn detached_tasks_run_on() {
    let _watchdog = common::watchdog();
    let rt = Runtime::new().unwrap();
    let finished = Rc::new(Cell::new(0));
    rt.block_on(async {
        let mut set = JoinSet::new();
        for _ in 0..5 {
            let finished = finished.clone();
            set.spawn(async move {
                yields(3).await;
                finished.set(finished.get() + 1);
            });
        }
        set.detach_all();
        assert_eq!(set.len(), 0);
        assert!(set.join_next().await.is_none());
        drop(set);
        yields(10).await;
    });
    assert_eq!(finished.get(), 5);
}

#[test]
fn len_counts_tasks_until_they_are_joined() {
    let _watchdog = common::watchdog();
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let gate = Rc::new(Cell::new(false));
        let mut set = JoinSet::new();
        for i in 0..4 {
            let gate = gate.clone();
            set.spawn(async move {
                while !gate.get() {
                    yield_now().await;
                }
                i
            });
        }
        assert_eq!(set.len(), 4);
        yields(2).await;
        assert!(set.try_join_next().is_none(), "none finished yet");
        assert_eq!(set.len(), 4);
        gate.set(true);
        yields(2).await;
        // All finished, none joined: still counted.
        assert_eq!(set.len(), 4);
        assert!(set.try_join_next().unwrap().is_ok());
        assert_eq!(set.len(), 3);
        assert!(set.join_next().await.unwrap().is_ok());
        assert_eq!(set.len(), 2);
        set.spawn(async { 9 });
        assert_eq!(set.len(), 3);
        set.shutdown().await;
        assert_eq!(set.len(), 0);
        assert!(set.is_empty());
    });
}

#[test]
fn a_dropped_join_next_loses_no_output() {
    let _watchdog = common::watchdog();
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let mut set = JoinSet::new();
        set.spawn(async {
            yields(3).await;
            "done"
        });
        // Poll `join_next` once, then drop it.
        {
            let mut next = pin!(set.join_next());
            let first = poll_fn(|cx| Poll::Ready(next.as_mut().poll(cx).is_pending())).await;
            assert!(first);
        }
        yields(5).await;
        assert_eq!(set.len(), 1);
        assert_eq!(set.join_next().await.unwrap().unwrap(), "done");
    });
}

#[test]
fn a_task_can_own_a_set_of_tasks_that_are_not_send() {
    let _watchdog = common::watchdog();
    let rt = Runtime::new().unwrap();
    let total = rt.block_on(async {
        let parent = spawn(async {
            let shared = Rc::new(RefCell::new(Vec::new()));
            let mut set: JoinSet<usize> = (0..8)
                .map(|i| {
                    let shared = shared.clone();
                    async move {
                        yields(i % 3).await;
                        shared.borrow_mut().push(i);
                        i
                    }
                })
                .collect();
            set.extend([async { 100 }]);
            let mut total = 0;
            while let Some(r) = set.join_next().await {
                total += r.unwrap();
            }
            assert_eq!(shared.borrow().len(), 8);
            total
        });
        parent.await.unwrap()
    });
    assert_eq!(total, 128);
}

#[test]
fn join_all_gives_every_output_or_resumes_a_panic() {
    let _watchdog = common::watchdog();
    let rt = Runtime::new().unwrap();
    let mut all = rt.block_on(async {
        let set: JoinSet<u32> = (0..5u32).map(|i| async move { i }).collect();
        set.join_all().await
    });
    all.sort_unstable();
    assert_eq!(all, [0, 1, 2, 3, 4]);
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let rt = Runtime::new().unwrap();
        rt.block_on(async {
            let mut set = JoinSet::new();
            set.spawn(async { panic!("inner") });
            set.spawn(std::future::pending::<()>());
            set.join_all().await
        })
    }));
    let payload = caught.unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"inner"));
}

/// 10,000 tasks, each polled a known number of times: the set adds no poll of its tasks,
/// and `join_next` is polled about once per task, not once per task per wake.
#[test]
fn a_large_set_joins_in_linear_polls() {
    let _watchdog = common::watchdog();
    const N: usize = 10_000;
    let rt = Runtime::new().unwrap();
    let task_polls = Rc::new(Cell::new(0usize));
    let join_polls = Rc::new(Cell::new(0usize));
    let joined = rt.block_on(async {
        let mut set = JoinSet::new();
        for i in 0..N {
            let polls = task_polls.clone();
            // Pending `i % 5` times, woken each time, then ready.
            let mut left = i % 5;
            set.spawn(poll_fn(move |cx| {
                polls.set(polls.get() + 1);
                if left == 0 {
                    return Poll::Ready(i);
                }
                left -= 1;
                cx.waker().wake_by_ref();
                Poll::Pending
            }));
        }
        let mut seen = vec![false; N];
        loop {
            let next = poll_fn(|cx| {
                join_polls.set(join_polls.get() + 1);
                set.poll_join_next(cx)
            })
            .await;
            match next {
                Some(r) => seen[r.unwrap()] = true,
                None => break,
            }
        }
        seen.iter().filter(|s| **s).count()
    });
    assert_eq!(joined, N);
    let expected: usize = (0..N).map(|i| i % 5 + 1).sum();
    assert_eq!(task_polls.get(), expected, "each task polled once per wake");
    assert!(
        join_polls.get() <= 2 * N,
        "join_next polled {} times for {N} tasks",
        join_polls.get()
    );
}

#[test]
fn the_abort_handle_from_spawn_cancels_that_task_only() {
    let _watchdog = common::watchdog();
    let rt = Runtime::new().unwrap();
    let dropped = Rc::new(Cell::new(0));
    let rt_dropped = dropped.clone();
    let (outputs, cancelled, handle) = rt.block_on(async move {
        let mut set = JoinSet::new();
        let guard = DropGuard(rt_dropped);
        let stuck = set.spawn(async move {
            let _guard = guard;
            std::future::pending::<u32>().await
        });
        let also = stuck.clone();
        for i in 0..3 {
            set.spawn(async move { i });
        }
        yield_now().await;
        assert!(!stuck.is_finished());
        stuck.abort();
        assert!(also.is_finished(), "a clone sees the same task");
        drop(stuck);
        let (mut outputs, mut cancelled) = (Vec::new(), 0);
        while let Some(r) = set.join_next().await {
            match r {
                Ok(v) => outputs.push(v),
                Err(e) if e.is_cancelled() => cancelled += 1,
                Err(e) => panic!("unexpected {e}"),
            }
        }
        // The handle outlives the set and its task: aborting it again does nothing.
        also.abort();
        (outputs, cancelled, also)
    });
    outputs_sorted(outputs);
    assert_eq!(cancelled, 1);
    assert_eq!(dropped.get(), 1, "the aborted future was dropped once");
    assert!(handle.is_finished());
    // Dropped after the runtime: it only gives back its reference.
    drop(rt);
    drop(handle);
}

fn outputs_sorted(mut outputs: Vec<u32>) {
    outputs.sort_unstable();
    assert_eq!(outputs, [0, 1, 2]);
}

#[test]
fn tasks_of_a_set_can_run_at_a_priority() {
    let _watchdog = common::watchdog();
    let rt = runtime::Builder::new().priorities(2).build().unwrap();
    let order = rt.block_on(async {
        let mut set = JoinSet::new();
        set.spawn(async { 1 });
        set.spawn_with_priority(0, async { 0 });
        let mut order = Vec::new();
        while let Some(r) = set.join_next().await {
            order.push(r.unwrap());
        }
        order
    });
    assert_eq!(order, [0, 1], "the urgent task finishes first");
}
