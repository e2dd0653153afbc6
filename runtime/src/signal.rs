//! Unix signals as async streams: [`ctrl_c`] and [`signal`].
//!
//! This is libevent's `evsig`: a process-wide handler turns each delivery into a byte
//! written to a pipe, and the pipe's read end is an ordinary fd in the reactor. Here
//! every [`Signal`] listener owns its own pipe (a non-blocking, close-on-exec Unix
//! socket pair), so several listeners of the same signal, for example one per loop
//! thread, each see every delivery.
//!
//! # Protocol
//!
//! The handler for a signal number is installed once, on first use, through
//! `signal_hook_registry` (which chains to any earlier handler and keeps `errno`). It
//! stays installed for the life of the process: after the first `signal(kind)` the
//! signal's default action (for SIGINT and SIGTERM, ending the process) no longer runs.
//!
//! The listeners live in `LISTENERS`, a fixed table of `SLOTS` slots shared by all
//! threads. Each slot has two atomics:
//!
//! | field   | value                                              | written by                  |
//! |---------|----------------------------------------------------|-----------------------------|
//! | `entry` | `EMPTY`, or `signum << 32 \| write_fd` of its owner | the owner: claim and release |
//! | `busy`  | how many handlers are between "about to use `entry`" and "done writing" | the handler |
//!
//! The handler may only allocate nothing, lock nothing and call only async-signal-safe
//! functions. For each slot whose `entry` names its signal it does:
//!
//! 1. `busy += 1`,
//! 2. re-read `entry`; if it still names this signal, `write(fd, 1 byte)` (a full pipe
//!    returns `EAGAIN`: a byte is already waiting, so nothing is lost),
//! 3. `busy -= 1`.
//!
//! A listener claims a free slot with a compare-and-swap from `EMPTY` to its entry, and
//! only after its read end is registered in the reactor and the handler is installed; a
//! delivery after [`signal`] returns therefore always reaches it. Dropping a listener:
//!
//! 1. stores `EMPTY` into `entry`,
//! 2. waits until `busy` is zero,
//! 3. only then closes the write end (and after it the read end).
//!
//! Why this is enough: all these operations are `SeqCst`, so they fall in one order. A
//! handler that read the old entry in its step 2 did its step 1 before that read, and
//! the read came before the release's step 1; so the release's step 2 sees `busy > 0`
//! until the handler's write is over. A handler that reads after step 1 sees `EMPTY`
//! (or a newer owner's live entry). So no write can reach the fd once it is closed, and
//! in particular none can reach an unrelated file that reused its number. The wait is
//! for a handler in the middle of one non-blocking `write`; a handler interrupting the
//! dropping thread itself finishes before the drop goes on. A handler that reads a
//! newer owner's entry keeps the old owner waiting a little longer, which is harmless.
//!
//! The read end is drained until `EAGAIN`, so many deliveries between two polls are
//! reported once ([`Signal::recv`] coalesces, as tokio does).

use std::fmt;
use std::future::poll_fn;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::task::{Context, Poll};

use libc::c_int;
use reactor::{Handle, Registration};

/// How many listeners may exist at once, over all signals and threads.
const SLOTS: usize = 256;

/// The value of a free slot's `entry` (no signal number is 0).
const EMPTY: u64 = 0;

/// One listener's place in the handler's table; see the module's protocol.
struct Slot {
    /// `EMPTY`, or the owner's signal number and write fd (see [`pack`]).
    entry: AtomicU64,
    /// Handlers currently using `entry` (steps 1 to 3 of the handler).
    busy: AtomicUsize,
}

impl Slot {
    const fn free() -> Slot {
        Slot {
            entry: AtomicU64::new(EMPTY),
            busy: AtomicUsize::new(0),
        }
    }
}

/// Every listener of every signal in the process.
static LISTENERS: [Slot; SLOTS] = [const { Slot::free() }; SLOTS];

/// Signal numbers whose handler is installed: bit `n` for signal `n`.
static INSTALLED: Mutex<u128> = Mutex::new(0);

fn pack(signum: c_int, fd: RawFd) -> u64 {
    (u64::from(signum as u32) << 32) | u64::from(fd as u32)
}

fn unpack(entry: u64) -> (c_int, RawFd) {
    ((entry >> 32) as u32 as c_int, entry as u32 as RawFd)
}

/// The signal handler's work: one byte to every listener of `signum`.
///
/// Async-signal-safe: atomics and `write(2)` only; no allocation, no lock.
fn deliver(signum: c_int) {
    for slot in &LISTENERS {
        let entry = slot.entry.load(SeqCst);
        if entry == EMPTY || unpack(entry).0 != signum {
            continue;
        }
        slot.busy.fetch_add(1, SeqCst);
        let entry = slot.entry.load(SeqCst);
        let (owner, fd) = unpack(entry);
        if entry != EMPTY && owner == signum {
            let byte = 1u8;
            // SAFETY: `fd` is open: it was read from `entry` while `busy` is raised, and
            // an owner closes its write end only after clearing `entry` and seeing `busy`
            // at zero (see the protocol). The buffer is one valid byte. `write` is
            // async-signal-safe; its result is ignored on purpose (`EAGAIN` means a byte
            // is already waiting).
            let _ = unsafe { libc::write(fd, (&raw const byte).cast(), 1) };
        }
        slot.busy.fetch_sub(1, SeqCst);
    }
}

/// Installs the process-wide handler for `signum`, once.
fn install(signum: c_int) -> io::Result<()> {
    if signum <= 0 || signum >= 128 || signal_hook_registry::FORBIDDEN.contains(&signum) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("signal {signum} cannot be listened for"),
        ));
    }
    let mut installed = INSTALLED.lock().unwrap_or_else(|e| e.into_inner());
    if *installed & (1 << signum) != 0 {
        return Ok(());
    }
    // SAFETY: `register` requires the action to be async-signal-safe; `deliver` only
    // touches atomics of a static table and calls `write(2)` (see its documentation).
    // `signum` is not in `FORBIDDEN`, checked above, so `register` does not panic.
    unsafe { signal_hook_registry::register(signum, move || deliver(signum)) }?;
    *installed |= 1 << signum;
    Ok(())
}

/// A kind of Unix signal, to pass to [`signal`].
///
/// ```
/// use runtime::signal::SignalKind;
///
/// assert_eq!(SignalKind::interrupt().as_raw(), libc::SIGINT);
/// assert_eq!(SignalKind::from_raw(libc::SIGUSR1), SignalKind::user_defined1());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SignalKind(c_int);

impl SignalKind {
    /// A signal by its number, such as `libc::SIGWINCH`.
    pub const fn from_raw(signum: c_int) -> SignalKind {
        SignalKind(signum)
    }

    /// The signal's number.
    pub const fn as_raw(self) -> c_int {
        self.0
    }

    /// `SIGINT`: the terminal's interrupt key, usually Ctrl-C.
    pub const fn interrupt() -> SignalKind {
        SignalKind(libc::SIGINT)
    }

    /// `SIGTERM`: a polite request to terminate, as sent by `kill` and service managers.
    pub const fn terminate() -> SignalKind {
        SignalKind(libc::SIGTERM)
    }

    /// `SIGHUP`: the terminal hung up; daemons often take it to mean "reload".
    pub const fn hangup() -> SignalKind {
        SignalKind(libc::SIGHUP)
    }

    /// `SIGQUIT`: the terminal's quit key, usually Ctrl-\.
    pub const fn quit() -> SignalKind {
        SignalKind(libc::SIGQUIT)
    }

    /// `SIGUSR1`, for the application's own use.
    pub const fn user_defined1() -> SignalKind {
        SignalKind(libc::SIGUSR1)
    }

    /// `SIGUSR2`, for the application's own use.
    pub const fn user_defined2() -> SignalKind {
        SignalKind(libc::SIGUSR2)
    }
}

/// A listener for one kind of signal, created by [`signal`].
///
/// Each delivery of the signal after the listener was created makes [`recv`] return;
/// several deliveries before the next `recv` are reported once. Every listener of a
/// signal sees every delivery. The listener belongs to the reactor of the thread that
/// created it, so it is `!Send`:
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<runtime::signal::Signal>();
/// ```
///
/// [`recv`]: Signal::recv
pub struct Signal {
    kind: SignalKind,
    /// Index of this listener's slot in `LISTENERS`.
    slot: usize,
    /// Registered in the reactor; declared before `reader` so it is dropped first.
    registration: Registration,
    /// The read end of the pipe.
    reader: UnixStream,
    /// The write end, whose fd is in `LISTENERS[slot]`. Invariant: it stays open until
    /// that slot's entry is cleared and its `busy` count has been seen at zero (see
    /// [`Drop`](#impl-Drop-for-Signal)).
    writer: Option<UnixStream>,
}

/// Listens for `kind` on the current thread's reactor.
///
/// The process-wide handler is installed on first use and stays installed: from then
/// on the signal's default action no longer runs. Fails outside a runtime, for signals
/// that cannot be caught (such as `SIGKILL` or `SIGSEGV`), or when too many listeners
/// exist at once.
///
/// ```no_run
/// # runtime::Runtime::new()?.block_on(async {
/// use runtime::signal::{SignalKind, signal};
///
/// let mut hangups = signal(SignalKind::hangup())?;
/// while hangups.recv().await.is_some() {
///     println!("reloading the configuration");
/// }
/// # Ok::<(), std::io::Error>(())
/// # })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn signal(kind: SignalKind) -> io::Result<Signal> {
    let handle = Handle::try_current()?;
    let (reader, writer) = UnixStream::pair()?;
    reader.set_nonblocking(true)?;
    writer.set_nonblocking(true)?;
    let registration = handle.register(reader.as_raw_fd())?;
    install(kind.as_raw())?;
    let entry = pack(kind.as_raw(), writer.as_raw_fd());
    let slot = LISTENERS
        .iter()
        .position(|s| {
            s.entry
                .compare_exchange(EMPTY, entry, SeqCst, SeqCst)
                .is_ok()
        })
        .ok_or_else(|| {
            io::Error::other(format!(
                "too many signal listeners (at most {SLOTS} at once)"
            ))
        })?;
    Ok(Signal {
        kind,
        slot,
        registration,
        reader,
        writer: Some(writer),
    })
}

impl Signal {
    /// The kind of signal this listener receives.
    pub fn kind(&self) -> SignalKind {
        self.kind
    }

    /// Waits for the next delivery. Returns `Some(())` once for every burst of
    /// deliveries since the last call, and `None` when no delivery can ever be seen
    /// again: the listener's pipe failed, or the runtime it was created in has been
    /// dropped (then `None` comes at once, it never waits forever).
    pub async fn recv(&mut self) -> Option<()> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Polls for a delivery: `Ready(Some(()))` if the signal arrived since the last
    /// `Ready`, `Ready(None)` as in [`recv`](Signal::recv), else `Pending` with the
    /// task's waker stored in the reactor.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<()>> {
        match self.poll_delivery(cx) {
            Poll::Ready(Ok(())) => Poll::Ready(Some(())),
            Poll::Ready(Err(_)) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    /// Like [`poll_recv`](Signal::poll_recv), with the reason when no delivery can come:
    /// the pipe's error, or the reactor's "runtime dropped" error.
    fn poll_delivery(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let reader = &self.reader;
        self.registration.poll_read_io(cx, || drain(reader))
    }
}

/// Reads every pending byte. `Ok` if there was at least one; `WouldBlock` if none.
fn drain(mut reader: &UnixStream) -> io::Result<()> {
    let mut buf = [0u8; 64];
    let mut got = false;
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(_) => got = true,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && got => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

impl Drop for Signal {
    fn drop(&mut self) {
        let slot = &LISTENERS[self.slot];
        slot.entry.store(EMPTY, SeqCst);
        while slot.busy.load(SeqCst) != 0 {
            std::thread::yield_now();
        }
        // No handler can be about to write to the fd any more (see the protocol).
        drop(self.writer.take());
        // `registration` and then `reader` are dropped after this, in field order.
    }
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signal")
            .field("kind", &self.kind)
            .field("slot", &self.slot)
            .field("fd", &self.reader.as_raw_fd())
            .finish()
    }
}

/// Waits for Ctrl-C (`SIGINT`).
///
/// The listener is created when the returned future is first polled; a Ctrl-C before
/// that is not seen. After the first call, Ctrl-C no longer ends the process by itself.
/// If the runtime it was first polled in is dropped, the next poll returns an error that
/// says so, instead of waiting forever.
///
/// ```no_run
/// # runtime::Runtime::new()?.block_on(async {
/// runtime::signal::ctrl_c().await?;
/// println!("shutting down");
/// # Ok::<(), std::io::Error>(())
/// # })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub async fn ctrl_c() -> io::Result<()> {
    let mut listener = signal(SignalKind::interrupt())?;
    poll_fn(|cx| listener.poll_delivery(cx)).await
}
