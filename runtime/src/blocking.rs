//! The blocking pool: `spawn_blocking` runs closures on helper threads.
//!
//! The pool starts a thread when a job arrives and no thread is idle, up to a maximum;
//! an idle thread exits after the keep-alive. The job's result (or its panic) travels
//! back through a one-shot slot whose waker wakes the awaiting task across threads.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::Duration;

use crate::error::{Cancelled, JoinError};
use crate::task::{JoinHandle, Scheduler};

type Job = Box<dyn FnOnce() + Send + 'static>;

struct State {
    jobs: VecDeque<Job>,
    threads: usize,
    idle: usize,
    shutdown: bool,
}

struct Shared {
    state: Mutex<State>,
    work: Condvar,
    max_threads: usize,
    keep_alive: Duration,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A runtime's pool of blocking threads.
pub(crate) struct Pool {
    shared: Arc<Shared>,
    /// Jobs spawned and not yet finished (or dropped), counted down after their result's
    /// wake (see [`Pool::in_flight`]).
    in_flight: Arc<AtomicUsize>,
}

impl Pool {
    pub(crate) fn new(max_threads: usize, keep_alive: Duration) -> Pool {
        Pool {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    jobs: VecDeque::new(),
                    threads: 0,
                    idle: 0,
                    shutdown: false,
                }),
                work: Condvar::new(),
                max_threads,
                keep_alive,
            }),
            in_flight: Arc::default(),
        }
    }

    /// How many jobs are queued or running. A job leaves the count after the wake of
    /// the task awaiting it, so a loop that reads zero here finds that wake in its remote
    /// queue. A loop with a paused clock does not jump its clock ahead while this is not
    /// zero: the job may be what its timers wait for.
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Queues `job`, waking an idle thread or starting one. After shutdown, or when no
    /// thread can be started at all, the job is dropped (its awaiter sees `Cancelled`).
    fn execute(&self, job: Job) {
        let mut state = self.shared.lock();
        if state.shutdown {
            return;
        }
        state.jobs.push_back(job);
        if state.idle >= state.jobs.len() {
            self.shared.work.notify_one();
            return;
        }
        if state.threads >= self.shared.max_threads {
            return; // a busy thread will take it
        }
        state.threads += 1;
        drop(state);
        let shared = self.shared.clone();
        let started = thread::Builder::new()
            .name("evloop-blocking".into())
            .spawn(move || worker(&shared));
        if started.is_err() {
            let mut state = self.shared.lock();
            state.threads -= 1;
            if state.threads == 0 {
                // Nobody will ever run them: drop them so their awaiters wake.
                let jobs = std::mem::take(&mut state.jobs);
                drop(state);
                drop(jobs);
            }
        }
    }

    /// Stops accepting jobs, drops the queued ones and lets idle threads exit. Running
    /// jobs finish on their own threads.
    pub(crate) fn shutdown(&self) {
        let jobs = {
            let mut state = self.shared.lock();
            state.shutdown = true;
            std::mem::take(&mut state.jobs)
        };
        self.shared.work.notify_all();
        drop(jobs);
    }

    /// How many pool threads are alive.
    pub(crate) fn threads(&self) -> usize {
        self.shared.lock().threads
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("threads", &self.threads())
            .finish()
    }
}

fn worker(shared: &Shared) {
    let mut state = shared.lock();
    loop {
        if let Some(job) = state.jobs.pop_front() {
            drop(state);
            job();
            state = shared.lock();
            continue;
        }
        if state.shutdown {
            break;
        }
        state.idle += 1;
        let (next, timeout) = shared
            .work
            .wait_timeout(state, shared.keep_alive)
            .unwrap_or_else(PoisonError::into_inner);
        state = next;
        state.idle -= 1;
        if timeout.timed_out() && state.jobs.is_empty() {
            break;
        }
    }
    state.threads -= 1;
}

/// The one-shot slot a blocking job fills.
struct Slot<T> {
    inner: Mutex<SlotState<T>>,
}

struct SlotState<T> {
    result: Option<thread::Result<T>>,
    waker: Option<Waker>,
    /// The job was dropped without running (pool shut down).
    closed: bool,
}

/// Fills the slot when the job runs; closes it if the job is dropped unrun.
struct Sender<T> {
    slot: Arc<Slot<T>>,
    /// The pool's count of jobs in flight, given back once, after the wake.
    in_flight: Option<Arc<AtomicUsize>>,
}

impl<T> Sender<T> {
    fn finish(&mut self, result: Option<thread::Result<T>>) {
        let waker = {
            let mut s = self
                .slot
                .inner
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if s.result.is_none() && !s.closed {
                match result {
                    Some(r) => s.result = Some(r),
                    None => s.closed = true,
                }
            }
            s.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
        // After the wake: a loop that sees the count drop also sees the wake (see
        // `Pool::in_flight`).
        if let Some(count) = self.in_flight.take() {
            count.fetch_sub(1, Ordering::Release);
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.finish(None);
    }
}

/// The result of a job given to [`Pool::run`]: `Err` if it panicked or never ran.
pub(crate) struct Receiver<T> {
    slot: Arc<Slot<T>>,
}

impl<T> Future for Receiver<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut s = self
            .slot
            .inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match s.result.take() {
            Some(Ok(value)) => Poll::Ready(Ok(value)),
            Some(Err(payload)) => Poll::Ready(Err(JoinError::panic(payload))),
            None if s.closed => Poll::Ready(Err(JoinError::cancelled())),
            None => {
                match &s.waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => s.waker = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
        }
    }
}

impl Pool {
    /// Runs `f` on this pool; the future returned gives its result, with no task of its
    /// own between (the runtime's file operations await it). Dropping the future lets `f`
    /// run on, its result unread.
    pub(crate) fn run<F, T>(&self, f: F) -> Receiver<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let slot = Arc::new(Slot {
            inner: Mutex::new(SlotState {
                result: None,
                waker: None,
                closed: false,
            }),
        });
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        let mut sender = Sender {
            slot: slot.clone(),
            in_flight: Some(self.in_flight.clone()),
        };
        self.execute(Box::new(move || {
            let result = catch_unwind(AssertUnwindSafe(f));
            sender.finish(Some(result));
        }));
        Receiver { slot }
    }

    /// Runs `f` on this pool, awaited by a task of `scheduler`, whose handle it returns
    /// (see [`spawn_blocking`](crate::spawn_blocking)).
    pub(crate) fn spawn<F, T>(&self, scheduler: &Scheduler, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let receiver = self.run(f);
        scheduler.spawn(async move {
            match receiver.await {
                Ok(value) => value,
                // Re-raised inside the task, whose harness turns it back into
                // a panic `JoinError` with the same payload (the hook does not run again).
                Err(e) => match e.try_into_panic() {
                    Ok(payload) => resume_unwind(payload),
                    Err(_cancelled) => resume_unwind(Box::new(Cancelled)),
                },
            }
        })
    }
}
