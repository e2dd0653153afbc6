//! One loop per core: `Builder::run` and `run_per_core`.
//!
//! Each loop is a thread with its own [`Runtime`] (reactor, timers, tasks), optionally
//! pinned to a core, running the same async entry function. Nothing is shared between
//! loops but what the entry function shares itself, and the loops' [`Handle`]s, which
//! `run_with_handles` gives every entry so that one loop can spawn onto another; with
//! `SO_REUSEPORT` each loop accepts its own connections (the nginx, monoio and glommio
//! model).

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;

use crate::builder::Builder;
use crate::context::LOOP_INDEX;
use crate::error::panic_message;
use crate::handle::Handle;
use crate::runtime::Runtime;

/// Why one loop of [`Builder::run`] gave no result.
#[derive(Debug)]
pub struct LoopError {
    index: usize,
    kind: LoopErrorKind,
}

#[derive(Debug)]
enum LoopErrorKind {
    /// The loop's runtime (or its thread) could not be created.
    Start(io::Error),
    /// The entry future, or the loop, panicked; this is the message when it was a string.
    Panic(String),
}

impl LoopError {
    /// The index of the loop that failed (`0..n`).
    pub fn index(&self) -> usize {
        self.index
    }

    /// Whether the loop panicked (rather than failed to start).
    pub fn is_panic(&self) -> bool {
        matches!(self.kind, LoopErrorKind::Panic(_))
    }

    /// The panic message, if the loop panicked with a string.
    pub fn panic_message(&self) -> Option<&str> {
        match &self.kind {
            LoopErrorKind::Panic(msg) => Some(msg),
            LoopErrorKind::Start(_) => None,
        }
    }

    fn panicked(index: usize, payload: &(dyn Any + Send)) -> LoopError {
        let msg = panic_message(payload).unwrap_or("a non-string payload");
        LoopError {
            index,
            kind: LoopErrorKind::Panic(msg.to_owned()),
        }
    }
}

impl fmt::Display for LoopError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            LoopErrorKind::Start(e) => write!(f, "loop {} could not start: {e}", self.index),
            LoopErrorKind::Panic(msg) => write!(f, "loop {} panicked: {msg}", self.index),
        }
    }
}

impl std::error::Error for LoopError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            LoopErrorKind::Start(e) => Some(e),
            LoopErrorKind::Panic(_) => None,
        }
    }
}

impl Builder {
    /// Starts [`threads`](Builder::threads) loops, each on its own thread with its own
    /// runtime built from these settings, pins loop `i` to a core where it can (see
    /// [`pin_threads`](Builder::pin_threads)), and runs `entry()` on each to completion.
    /// Inside, [`loop_index`](crate::loop_index) says which loop runs.
    ///
    /// Returns one result per loop, in loop order, once all have finished: the entry
    /// future's output, or a [`LoopError`] naming the loop that panicked or could not
    /// start. A panic in one loop does not stop the others.
    ///
    /// ```
    /// let results = runtime::Builder::new().threads(2).run(|| async {
    ///     runtime::loop_index().unwrap() * 10
    /// });
    /// let values: Vec<usize> = results.into_iter().map(Result::unwrap).collect();
    /// assert_eq!(values, [0, 10]);
    /// ```
    pub fn run<F, Fut>(&self, entry: F) -> Vec<Result<Fut::Output, LoopError>>
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future + 'static,
        Fut::Output: Send + 'static,
    {
        self.run_with_handles(move |_loops| entry())
    }

    /// As [`run`](Builder::run), and each loop's entry function is given the
    /// [`Handle`]s of all the loops, in loop order (its own at
    /// [`loop_index`](crate::loop_index)), so that any loop can
    /// [`spawn`](Handle::spawn) onto any other.
    ///
    /// Every loop builds its runtime first; the entry functions start once all the
    /// handles exist. A loop that could not start has a handle whose spawns are cancelled
    /// at once, and so does a loop once its entry future has finished and its runtime is
    /// dropped.
    ///
    /// ```
    /// use runtime::sync::CancellationToken;
    ///
    /// let asked = CancellationToken::new();
    /// let results = runtime::Builder::new().threads(2).run_with_handles(move |loops| {
    ///     let asked = asked.clone();
    ///     async move {
    ///         if runtime::loop_index() == Some(0) {
    ///             // Run a task on loop 1, and await its answer here on loop 0.
    ///             let task = loops[1].spawn(async move {
    ///                 asked.cancel();
    ///                 runtime::loop_index()
    ///             });
    ///             task.await.unwrap()
    ///         } else {
    ///             // Loop 1 runs until loop 0's task has run on it.
    ///             asked.cancelled().await;
    ///             None
    ///         }
    ///     }
    /// });
    /// let values: Vec<Option<usize>> = results.into_iter().map(Result::unwrap).collect();
    /// assert_eq!(values, [Some(1), None]);
    /// ```
    pub fn run_with_handles<F, Fut>(&self, entry: F) -> Vec<Result<Fut::Output, LoopError>>
    where
        F: Fn(Vec<Handle>) -> Fut + Send + Sync + 'static,
        Fut: Future + 'static,
        Fut::Output: Send + 'static,
    {
        let entry = Arc::new(entry);
        let rendezvous = Arc::new(Rendezvous::new(self.threads));
        let cores = if self.pin_threads {
            allowed_cores()
        } else {
            Vec::new()
        };
        let mut started = Vec::with_capacity(self.threads);
        for index in 0..self.threads {
            let builder = self.clone();
            let entry = entry.clone();
            let ticket = Ticket {
                rendezvous: rendezvous.clone(),
                index,
                posted: false,
            };
            let core = (!cores.is_empty()).then(|| cores[index % cores.len()]);
            // A thread that cannot start drops its closure, and with it the ticket, which
            // posts the loop as absent.
            let spawned = thread::Builder::new()
                .name(format!("evloop-{index}"))
                .spawn(move || run_loop(ticket, core, &builder, &*entry));
            started.push(spawned.map_err(|e| LoopError {
                index,
                kind: LoopErrorKind::Start(e),
            }));
        }
        started
            .into_iter()
            .enumerate()
            .map(|(index, handle)| match handle?.join() {
                Ok(result) => result,
                Err(payload) => Err(LoopError::panicked(index, payload.as_ref())),
            })
            .collect()
    }
}

fn run_loop<F, Fut>(
    ticket: Ticket,
    core: Option<usize>,
    builder: &Builder,
    entry: &F,
) -> Result<Fut::Output, LoopError>
where
    F: Fn(Vec<Handle>) -> Fut,
    Fut: Future,
{
    let index = ticket.index;
    LOOP_INDEX.with(|i| i.set(Some(index)));
    if let Some(core) = core {
        pin_to_core(core);
    }
    let rt = Runtime::from_builder(builder).map_err(|e| LoopError {
        index,
        kind: LoopErrorKind::Start(e),
    })?;
    let loops = ticket.exchange(rt.handle());
    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| rt.block_on(entry(loops))));
    out.map_err(|payload| LoopError::panicked(index, payload.as_ref()))
}

/// Where the loops of one `run` leave their handles, and wait for all the others'.
struct Rendezvous {
    state: Mutex<Posted>,
    all_posted: Condvar,
}

struct Posted {
    /// Loop `i`'s handle; `never_started` until it posts one.
    handles: Vec<Handle>,
    /// How many loops have posted (a handle, or their absence).
    count: usize,
}

impl Rendezvous {
    fn new(loops: usize) -> Rendezvous {
        Rendezvous {
            state: Mutex::new(Posted {
                handles: vec![Handle::never_started(); loops],
                count: 0,
            }),
            all_posted: Condvar::new(),
        }
    }

    /// Posts loop `index`'s handle (`None`: it could not start); returns the guard.
    fn post(&self, index: usize, handle: Option<Handle>) -> MutexGuard<'_, Posted> {
        let mut posted = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(handle) = handle {
            posted.handles[index] = handle;
        }
        posted.count += 1;
        if posted.count == posted.handles.len() {
            self.all_posted.notify_all();
        }
        posted
    }
}

/// One loop's place in the [`Rendezvous`]: dropped unused (the loop's thread or runtime
/// could not start, or panicked first), it posts the loop as absent, so that the others
/// never wait for it.
struct Ticket {
    rendezvous: Arc<Rendezvous>,
    index: usize,
    posted: bool,
}

impl Ticket {
    /// Posts this loop's handle and waits for every loop's.
    fn exchange(mut self, handle: Handle) -> Vec<Handle> {
        self.posted = true;
        let rendezvous = &self.rendezvous;
        let mut posted = rendezvous.post(self.index, Some(handle));
        while posted.count < posted.handles.len() {
            posted = rendezvous
                .all_posted
                .wait(posted)
                .unwrap_or_else(PoisonError::into_inner);
        }
        posted.handles.clone()
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if !self.posted {
            drop(self.rendezvous.post(self.index, None));
        }
    }
}

/// Runs `entry` on `n` loops, one per thread, pinned to cores: shorthand for
/// `Builder::new().threads(n).run(entry)`.
pub fn run_per_core<F, Fut>(n: usize, entry: F) -> Vec<Result<Fut::Output, LoopError>>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future + 'static,
    Fut::Output: Send + 'static,
{
    Builder::new().threads(n).run(entry)
}

/// The CPUs this process may run on, in order; empty where unknown.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn allowed_cores() -> Vec<usize> {
    // SAFETY: cpu_set_t is a plain bit array; all-zero is a valid (empty) set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid cpu_set_t of the size passed; pid 0 is this thread.
    let rc = unsafe { libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) };
    if rc != 0 {
        return Vec::new();
    }
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: `i` is below CPU_SETSIZE, the set's capacity.
        .filter(|&i| unsafe { libc::CPU_ISSET(i, &set) })
        .collect()
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn allowed_cores() -> Vec<usize> {
    Vec::new()
}

/// Pins the calling thread to `core`. A failure (the core went away) leaves it unpinned.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn pin_to_core(core: usize) {
    // SAFETY: as in `allowed_cores`.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `core` came from `allowed_cores`, so it is below CPU_SETSIZE.
    unsafe { libc::CPU_SET(core, &mut set) };
    // SAFETY: `set` is a valid cpu_set_t of the size passed; pid 0 is this thread.
    let _ = unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) };
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn pin_to_core(_core: usize) {}
