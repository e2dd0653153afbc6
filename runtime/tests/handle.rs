//! `Runtime::handle` and `Handle::spawn`: `Send` futures spawned onto a loop from other
//! threads and other loops, through the remote queue and the notifier, and the `Send`
//! `RemoteJoinHandle` awaited, aborted and dropped elsewhere.

mod common;

use std::future::pending;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::{self, ThreadId};
use std::time::Duration;

use runtime::sync::CancellationToken;
use runtime::{Builder, Handle, RemoteJoinHandle, Runtime, loop_index};

/// A loop on a thread of its own, running until stopped, and its handle.
struct Loop {
    handle: Handle,
    stop: CancellationToken,
    thread: thread::JoinHandle<()>,
}

impl Loop {
    fn start() -> Loop {
        let stop = CancellationToken::new();
        let (tx, rx) = mpsc::channel();
        let s = stop.clone();
        let thread = thread::spawn(move || {
            let rt = Runtime::new().unwrap();
            tx.send(rt.handle()).unwrap();
            rt.block_on(s.cancelled());
        });
        Loop {
            handle: rx.recv().unwrap(),
            stop,
            thread,
        }
    }

    fn id(&self) -> ThreadId {
        self.thread.thread().id()
    }

    fn join(self) {
        self.stop.cancel();
        self.thread.join().unwrap();
    }
}

/// Records the thread that drops it.
struct DropProbe(Arc<Mutex<Vec<ThreadId>>>);

impl Drop for DropProbe {
    fn drop(&mut self) {
        self.0.lock().unwrap().push(thread::current().id());
    }
}

fn panic_message(err: runtime::JoinError) -> String {
    let payload = err.into_panic();
    match payload.downcast::<&'static str>() {
        Ok(s) => (*s).to_owned(),
        Err(payload) => *payload.downcast::<String>().expect("a string payload"),
    }
}

/// A loop blocked in its wait, seen through `/proc`: Linux only.
#[cfg(target_os = "linux")]
mod blocked_loop {
    use std::future::poll_fn;
    use std::sync::Condvar;
    use std::task::{Poll, Waker};
    use std::time::Instant;

    use super::*;

    /// A gate that threads wait at until it opens.
    #[derive(Default)]
    struct Gate {
        open: Mutex<bool>,
        opened: Condvar,
    }

    impl Gate {
        fn open(&self) {
            *self.open.lock().unwrap() = true;
            self.opened.notify_all();
        }

        fn wait(&self) {
            let mut open = self.open.lock().unwrap();
            while !*open {
                open = self.opened.wait(open).unwrap();
            }
        }
    }

    /// Waits until the thread `tid` of this process sleeps in the kernel: the loop blocked
    /// in its wait. Linux only (`/proc`).
    fn wait_until_sleeping(tid: i32) {
        let path = format!("/proc/self/task/{tid}/stat");
        let start = Instant::now();
        loop {
            let stat = std::fs::read_to_string(&path).unwrap();
            // The state follows the command name, which is in parentheses.
            let state = stat.rsplit_once(')').unwrap().1.trim_start().chars().next();
            if state == Some('S') {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "the loop never blocked"
            );
            thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn spawns_from_eight_threads_onto_a_blocked_loop_each_run_exactly_once() {
        let _watchdog = common::watchdog();
        const THREADS: usize = 8;
        const EACH: usize = 250;
        const TOTAL: usize = THREADS * EACH;
        let rt = Runtime::new().unwrap();
        let handle = rt.handle();
        let runs: Arc<Vec<AtomicUsize>> =
            Arc::new((0..TOTAL).map(|_| AtomicUsize::new(0)).collect());
        let done = Arc::new(AtomicUsize::new(0));
        let all_done: Arc<Mutex<Option<Waker>>> = Arc::default();
        let gate = Arc::new(Gate::default());
        let spawners: Vec<_> = (0..THREADS)
            .map(|t| {
                let (handle, runs, done, all_done, gate) = (
                    handle.clone(),
                    runs.clone(),
                    done.clone(),
                    all_done.clone(),
                    gate.clone(),
                );
                thread::spawn(move || {
                    gate.wait();
                    (0..EACH)
                        .map(|i| {
                            let n = t * EACH + i;
                            let (runs, done, all_done) =
                                (runs.clone(), done.clone(), all_done.clone());
                            handle.spawn(async move {
                                runs[n].fetch_add(1, SeqCst);
                                if done.fetch_add(1, SeqCst) + 1 == TOTAL {
                                    all_done.lock().unwrap().take().unwrap().wake();
                                }
                                n
                            })
                        })
                        .collect::<Vec<RemoteJoinHandle<usize>>>()
                })
            })
            .collect();
        // A keeper opens the gate once the loop sleeps in its wait (no task, no timer).
        // SAFETY: gettid has no preconditions.
        let loop_tid = unsafe { libc::gettid() };
        let keeper = {
            let gate = gate.clone();
            thread::spawn(move || {
                wait_until_sleeping(loop_tid);
                gate.open();
            })
        };
        let turns_before = rt.turns();
        let writes = rt.block_on(async {
            let notifier = reactor::Handle::current().notifier();
            let before = notifier.signal_writes();
            poll_fn(|cx| {
                *all_done.lock().unwrap() = Some(cx.waker().clone());
                if done.load(SeqCst) == TOTAL {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            })
            .await;
            notifier.signal_writes() - before
        });
        let turns = rt.turns() - turns_before;
        keeper.join().unwrap();
        assert!(writes >= 1, "the first spawn woke the blocked loop");
        assert!(
            writes <= turns,
            "at most one eventfd write per wait: {writes} writes in {turns} turns"
        );
        assert!(
            (writes as usize) < TOTAL,
            "notifications are coalesced: {writes} writes for {TOTAL} spawns"
        );
        for (t, spawner) in spawners.into_iter().enumerate() {
            for (i, handle) in spawner.join().unwrap().into_iter().enumerate() {
                assert!(handle.is_finished());
                assert_eq!(futures::executor::block_on(handle).unwrap(), t * EACH + i);
            }
        }
        assert!(
            runs.iter().all(|r| r.load(SeqCst) == 1),
            "every task ran once"
        );
        assert_eq!(rt.live_tasks(), 0);
    }
}

#[test]
fn a_spawn_onto_a_dropped_loop_is_cancelled_and_its_future_dropped_unpolled() {
    let _watchdog = common::watchdog();
    let rt = Runtime::new().unwrap();
    let handle = rt.handle();
    assert!(!handle.is_closed());
    drop(rt);
    assert!(handle.is_closed());
    let drops = Arc::new(Mutex::new(Vec::new()));
    let polled = Arc::new(AtomicBool::new(false));
    let (d, p) = (drops.clone(), polled.clone());
    let (spawner, task) = thread::spawn(move || {
        let probe = DropProbe(d);
        let task = handle.spawn(async move {
            let _probe = probe;
            p.store(true, SeqCst);
        });
        (thread::current().id(), task)
    })
    .join()
    .unwrap();
    assert_eq!(
        *drops.lock().unwrap(),
        [spawner],
        "dropped before `spawn` returned"
    );
    assert!(!polled.load(SeqCst));
    assert!(task.is_finished());
    let err = futures::executor::block_on(task).unwrap_err();
    assert!(err.is_cancelled());
}

#[test]
fn a_spawn_that_reached_the_loop_before_its_drop_is_cancelled_on_the_loop_thread() {
    let _watchdog = common::watchdog();
    let rt = Runtime::new().unwrap();
    let handle = rt.handle();
    let drops = Arc::new(Mutex::new(Vec::new()));
    let d = drops.clone();
    let task = thread::spawn(move || {
        let probe = DropProbe(d);
        handle.spawn(async move {
            let _probe = probe;
            pending::<()>().await;
        })
    })
    .join()
    .unwrap();
    // Never driven: the spawn waits in the remote queue, and the drop cancels it here.
    assert_eq!(rt.shutdown_now(), 1);
    assert_eq!(*drops.lock().unwrap(), [thread::current().id()]);
    assert!(
        futures::executor::block_on(task)
            .unwrap_err()
            .is_cancelled()
    );
}

#[test]
fn a_spawn_before_the_loop_runs_starts_at_its_next_block_on() {
    let _watchdog = common::watchdog();
    let rt = Runtime::new().unwrap();
    let handle = rt.handle();
    let task = thread::spawn(move || handle.spawn(async { thread::current().id() }))
        .join()
        .unwrap();
    assert!(!task.is_finished());
    assert_eq!(rt.block_on(task).unwrap(), thread::current().id());
}

#[test]
fn the_join_handle_is_awaited_on_another_loop_and_on_a_plain_thread() {
    let _watchdog = common::watchdog();
    let remote = Loop::start();
    let here = Runtime::new().unwrap();
    let (ran_on, answer) = here.block_on(async {
        remote
            .handle
            .spawn(async {
                runtime::yield_now().await;
                (thread::current().id(), 42)
            })
            .await
            .unwrap()
    });
    assert_eq!((ran_on, answer), (remote.id(), 42));
    // From a thread with no runtime at all.
    let handle = remote.handle.clone();
    let (ran_on, answer) = thread::spawn(move || {
        futures::executor::block_on(handle.spawn(async { (thread::current().id(), 7) })).unwrap()
    })
    .join()
    .unwrap();
    assert_eq!((ran_on, answer), (remote.id(), 7));
    remote.join();
}

#[test]
fn abort_from_another_thread_drops_the_future_on_its_loop() {
    let _watchdog = common::watchdog();
    let remote = Loop::start();
    let drops = Arc::new(Mutex::new(Vec::new()));
    let probe = DropProbe(drops.clone());
    let started = Arc::new(AtomicBool::new(false));
    let s = started.clone();
    let task = remote.handle.spawn(async move {
        let _probe = probe;
        s.store(true, SeqCst);
        pending::<()>().await;
    });
    let aborter = thread::spawn(move || {
        task.abort();
        futures::executor::block_on(task)
    });
    let err = aborter.join().unwrap().unwrap_err();
    assert!(err.is_cancelled());
    assert_eq!(*drops.lock().unwrap(), [remote.id()]);
    remote.join();
}

#[test]
fn an_abort_handle_cancels_a_detached_task_from_another_thread() {
    let _watchdog = common::watchdog();
    /// Says, on a channel, which thread dropped it.
    struct Dropped(mpsc::Sender<ThreadId>);
    impl Drop for Dropped {
        fn drop(&mut self) {
            let _ = self.0.send(thread::current().id());
        }
    }
    let remote = Loop::start();
    let (tx, rx) = mpsc::channel();
    let guard = Dropped(tx);
    let task = remote.handle.spawn(async move {
        let _guard = guard;
        pending::<()>().await;
    });
    let abort = task.abort_handle();
    drop(task);
    let aborter = abort.clone();
    thread::spawn(move || aborter.abort()).join().unwrap();
    let dropped_on = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(dropped_on, remote.id());
    // The slot says finished right after the drop, in the same poll: a task spawned
    // now runs after it.
    futures::executor::block_on(remote.handle.spawn(async {})).unwrap();
    assert!(abort.is_finished());
    remote.join();
}

#[test]
fn a_panic_in_a_spawned_future_reaches_its_handle_and_the_loop_goes_on() {
    let _watchdog = common::watchdog();
    let remote = Loop::start();
    let err = futures::executor::block_on(remote.handle.spawn(async {
        panic!("boom on the loop");
    }))
    .unwrap_err();
    assert!(err.is_panic());
    assert_eq!(panic_message(err), "boom on the loop");
    let after = futures::executor::block_on(remote.handle.spawn(async { "still running" }));
    assert_eq!(after.unwrap(), "still running");
    remote.join();
}

#[test]
fn a_dropped_join_handle_detaches_the_task() {
    let _watchdog = common::watchdog();
    let remote = Loop::start();
    let ran = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    let r = ran.clone();
    drop(remote.handle.spawn(async move {
        runtime::yield_now().await;
        r.store(true, SeqCst);
        tx.send(()).unwrap();
    }));
    rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(ran.load(SeqCst));
    remote.join();
}

#[runtime::test]
async fn the_current_handle_spawns_onto_this_loop() {
    let handle = Handle::current();
    let here = thread::current().id();
    assert_eq!(
        handle
            .spawn(async { thread::current().id() })
            .await
            .unwrap(),
        here
    );
    assert!(Handle::try_current().is_some());
}

#[test]
fn outside_a_runtime_there_is_no_current_handle() {
    let _watchdog = common::watchdog();
    assert!(Handle::try_current().is_none());
    let caught = std::panic::catch_unwind(|| Handle::current()).unwrap_err();
    let message = caught.downcast_ref::<String>().unwrap();
    assert!(
        message.starts_with("there is no evloop runtime on this thread"),
        "{message}"
    );
}

#[test]
fn every_per_core_loop_gets_every_handle() {
    let _watchdog = common::watchdog();
    const LOOPS: usize = 3;
    let finished = Arc::new(AtomicUsize::new(0));
    let all_finished = CancellationToken::new();
    let results = Builder::new()
        .threads(LOOPS)
        .pin_threads(false)
        .run_with_handles(move |loops| {
            let (finished, all_finished) = (finished.clone(), all_finished.clone());
            async move {
                assert_eq!(loops.len(), LOOPS);
                let tasks: Vec<_> = loops
                    .iter()
                    .map(|h| h.spawn(async { loop_index().unwrap() }))
                    .collect();
                let mut answers = Vec::new();
                for task in tasks {
                    answers.push(task.await.unwrap());
                }
                // Stay up until every loop has had its answers from this one.
                if finished.fetch_add(1, SeqCst) + 1 == LOOPS {
                    all_finished.cancel();
                }
                all_finished.cancelled().await;
                answers
            }
        });
    for result in results {
        assert_eq!(result.unwrap(), [0, 1, 2]);
    }
}

#[test]
fn handles_and_their_join_handles_are_send_sync() {
    let _watchdog = common::watchdog();
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<Handle>();
    assert_send_sync::<RemoteJoinHandle<Vec<u8>>>();
    assert_send_sync::<runtime::RemoteAbortHandle>();
}

#[test]
fn a_remote_spawn_runs_at_the_default_priority() {
    let _watchdog = common::watchdog();
    let rt = Builder::new()
        .priorities(3)
        .starvation_limit(1_000_000)
        .build()
        .unwrap();
    let order = Arc::new(Mutex::new(Vec::new()));
    let waiting = Arc::new(AtomicUsize::new(0));
    let gate = CancellationToken::new();
    // Each task waits at the gate, then records its name: once the gate opens, the
    // three are ready together, and run most urgent first.
    let task = |name: &'static str| {
        let (order, waiting, gate) = (order.clone(), waiting.clone(), gate.clone());
        async move {
            waiting.fetch_add(1, SeqCst);
            gate.cancelled().await;
            order.lock().unwrap().push(name);
        }
    };
    let low = rt.spawn_with_priority(2, task("low"));
    let urgent = rt.spawn_with_priority(0, task("urgent"));
    let remote = rt.handle().spawn(task("remote"));
    rt.block_on(async {
        while waiting.load(SeqCst) < 3 {
            runtime::yield_now().await;
        }
        gate.cancel();
        urgent.await.unwrap();
        low.await.unwrap();
        remote.await.unwrap();
    });
    assert_eq!(*order.lock().unwrap(), ["urgent", "remote", "low"]);
}
