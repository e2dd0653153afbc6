//! One loop per core: `Builder::run` and `run_per_core`.
//!
//! Each loop is a thread with its own [`Runtime`] (reactor, timers, tasks), optionally
//! pinned to a core, running the same async entry function. Nothing is shared between
//! loops but what the entry function shares itself; with `SO_REUSEPORT` each loop
//! accepts its own connections (the nginx, monoio and glommio model).

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::io;
use std::sync::Arc;
use std::thread;

use crate::builder::Builder;
use crate::error::panic_message;
use crate::runtime::{LOOP_INDEX, Runtime};

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
        let entry = Arc::new(entry);
        let cores = if self.pin_threads {
            allowed_cores()
        } else {
            Vec::new()
        };
        let mut started = Vec::with_capacity(self.threads);
        for index in 0..self.threads {
            let builder = self.clone();
            let entry = entry.clone();
            let core = (!cores.is_empty()).then(|| cores[index % cores.len()]);
            let spawned = thread::Builder::new()
                .name(format!("evloop-{index}"))
                .spawn(move || run_loop(index, core, &builder, &*entry));
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
    index: usize,
    core: Option<usize>,
    builder: &Builder,
    entry: &F,
) -> Result<Fut::Output, LoopError>
where
    F: Fn() -> Fut,
    Fut: Future,
{
    LOOP_INDEX.with(|i| i.set(Some(index)));
    if let Some(core) = core {
        pin_to_core(core);
    }
    let rt = Runtime::from_builder(builder).map_err(|e| LoopError {
        index,
        kind: LoopErrorKind::Start(e),
    })?;
    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| rt.block_on(entry())));
    out.map_err(|payload| LoopError::panicked(index, payload.as_ref()))
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
