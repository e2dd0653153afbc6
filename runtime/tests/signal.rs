//! Signals delivered to the process reach the listeners created before the delivery.
//!
//! Each test uses its own signal number, so tests running at the same time in this
//! process do not see each other's deliveries. Every listener is created (and with it
//! the process-wide handler installed) before its signal is raised, so no signal's
//! default action can end the test process.

mod common;

use std::future::{Future, poll_fn};
use std::io;
use std::pin::pin;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Barrier, Mutex, MutexGuard, PoisonError};
use std::task::Poll;
use std::thread;
use std::time::Duration;

use runtime::Runtime;
use runtime::signal::{Signal, SignalKind, ctrl_c, signal};

const PATIENCE: Duration = Duration::from_secs(10);

fn raise(signum: libc::c_int) {
    // SAFETY: `raise` has no memory-safety preconditions; each test installs a handler
    // for `signum` (by creating a listener) before raising it.
    assert_eq!(unsafe { libc::raise(signum) }, 0);
}

fn kill_process(signum: libc::c_int) {
    // SAFETY: `kill` and `getpid` have no memory-safety preconditions; the handler for
    // `signum` is installed before this is called.
    assert_eq!(unsafe { libc::kill(libc::getpid(), signum) }, 0);
}

/// Runs `test` on a runtime of its own thread, failing if it takes longer than
/// `PATIENCE` (a lost delivery would otherwise hang the test run).
fn on_runtime<F: Future<Output = ()>>(test: impl FnOnce() -> F + Send + 'static) {
    let (done, finished) = mpsc::channel();
    let runner = thread::spawn(move || {
        Runtime::new().unwrap().block_on(test());
        let _ = done.send(());
    });
    match finished.recv_timeout(PATIENCE) {
        Ok(()) => runner.join().unwrap(),
        Err(RecvTimeoutError::Disconnected) => {
            std::panic::resume_unwind(runner.join().unwrap_err())
        }
        Err(RecvTimeoutError::Timeout) => panic!("no signal received within {PATIENCE:?}"),
    }
}

/// Runs the tests of this file one at a time: one of them writes to the fds of its own
/// listener, which it finds by number, and no other test's fd may be among them.
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Waits for the listener's next delivery.
async fn next(listener: &mut Signal) {
    assert_eq!(listener.recv().await, Some(()));
}

/// Whether `fut` is pending when polled once.
async fn is_pending<F: Future>(fut: F) -> bool {
    let mut fut = pin!(fut);
    poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx).is_pending())).await
}

#[test]
fn a_raised_signal_is_received() {
    let (_serial, _watchdog) = (serial(), common::watchdog());
    on_runtime(|| async {
        let mut hangups = signal(SignalKind::hangup()).unwrap();
        assert_eq!(hangups.kind(), SignalKind::hangup());
        raise(libc::SIGHUP);
        next(&mut hangups).await;
        // And again: the listener keeps working after a delivery.
        raise(libc::SIGHUP);
        next(&mut hangups).await;
    });
}

#[test]
fn every_listener_of_a_signal_receives_it() {
    let (_serial, _watchdog) = (serial(), common::watchdog());
    on_runtime(|| async {
        let mut first = signal(SignalKind::user_defined1()).unwrap();
        let mut second = signal(SignalKind::user_defined1()).unwrap();
        raise(libc::SIGUSR1);
        next(&mut first).await;
        next(&mut second).await;
    });
}

#[test]
fn a_signal_from_another_thread_wakes_a_blocked_loop() {
    let (_serial, _watchdog) = (serial(), common::watchdog());
    on_runtime(|| async {
        let mut listener = signal(SignalKind::user_defined2()).unwrap();
        let sender = thread::spawn(|| {
            thread::sleep(Duration::from_millis(50));
            kill_process(libc::SIGUSR2);
        });
        // The loop blocks in the reactor until the handler writes to the pipe.
        next(&mut listener).await;
        sender.join().unwrap();
    });
}

#[test]
fn each_loop_thread_gets_the_signal() {
    let (_serial, _watchdog) = (serial(), common::watchdog());
    const LOOPS: usize = 3;
    let ready = Arc::new(Barrier::new(LOOPS + 1));
    let (received, receipts) = mpsc::channel();
    for _ in 0..LOOPS {
        let ready = ready.clone();
        let received = received.clone();
        thread::spawn(move || {
            Runtime::new().unwrap().block_on(async move {
                let mut listener = signal(SignalKind::from_raw(libc::SIGWINCH)).unwrap();
                ready.wait();
                next(&mut listener).await;
            });
            received.send(()).unwrap();
        });
    }
    ready.wait();
    kill_process(libc::SIGWINCH);
    for _ in 0..LOOPS {
        receipts
            .recv_timeout(PATIENCE)
            .expect("every loop receives the signal in time");
    }
}

#[test]
fn deliveries_between_two_polls_are_reported_once() {
    let (_serial, _watchdog) = (serial(), common::watchdog());
    on_runtime(|| async {
        let mut listener = signal(SignalKind::from_raw(libc::SIGURG)).unwrap();
        assert!(is_pending(listener.recv()).await, "nothing delivered yet");
        for _ in 0..3 {
            raise(libc::SIGURG);
        }
        next(&mut listener).await;
        assert!(is_pending(listener.recv()).await, "the burst was drained");
    });
}

#[test]
fn dropping_a_listener_leaves_the_others_working() {
    let (_serial, _watchdog) = (serial(), common::watchdog());
    on_runtime(|| async {
        let sig = SignalKind::from_raw(libc::SIGVTALRM);
        let mut kept = signal(sig).unwrap();
        for _ in 0..300 {
            let dropped = signal(sig).unwrap();
            raise(libc::SIGVTALRM);
            drop(dropped);
            raise(libc::SIGVTALRM);
        }
        next(&mut kept).await;
        // Slots are reused: far more listeners than the table holds came and went.
        let mut again = signal(sig).unwrap();
        raise(libc::SIGVTALRM);
        next(&mut again).await;
    });
}

#[test]
fn ctrl_c_resolves_on_sigint() {
    let (_serial, _watchdog) = (serial(), common::watchdog());
    on_runtime(|| async {
        // Polling once creates the listener, so the SIGINT below is caught, not fatal.
        let mut ctrl_c = pin!(ctrl_c());
        assert!(is_pending(ctrl_c.as_mut()).await);
        raise(libc::SIGINT);
        ctrl_c.await.unwrap();
    });
}

#[test]
fn uncatchable_signals_are_refused() {
    let (_serial, _watchdog) = (serial(), common::watchdog());
    on_runtime(|| async {
        for signum in [libc::SIGKILL, libc::SIGSTOP, libc::SIGSEGV, 0, -1] {
            let err = signal(SignalKind::from_raw(signum)).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "signal {signum}");
        }
    });
}

#[test]
fn a_listener_needs_a_runtime() {
    let (_serial, _watchdog) = (serial(), common::watchdog());
    assert!(signal(SignalKind::hangup()).is_err());
}

/// The guarantee a dropped listener gives (see the protocol in `signal.rs`): once its
/// drop returns, no handler is writing to its pipe, so no write can reach a file that
/// reuses the fd number. A storm of deliveries cannot show a breach of it: a handler
/// is between reading the fd and writing to it for a few instructions. So this test
/// holds a handler inside its write: the listener's pipe is made blocking and full, a
/// delivery's handler blocks in `write(2)` on another thread, and the drop must not
/// return until that write is over. A drop that returned early would let the blocked
/// write land in whatever file took the number next.
#[cfg(target_os = "linux")]
#[test]
fn dropping_a_listener_waits_for_a_handler_writing_to_it() {
    let (_serial, _watchdog) = (serial(), common::watchdog());
    use std::fs::File;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
    use std::time::Instant;

    /// A duplicate of `fd`, sharing its open file (and its status flags).
    fn dup(fd: libc::c_int) -> File {
        // SAFETY: `dup` has no memory-safety preconditions; a non-negative result is a
        // new fd that nothing else owns.
        let new = unsafe { libc::dup(fd) };
        assert!(new >= 0, "dup({fd}): {}", io::Error::last_os_error());
        // SAFETY: see above.
        File::from(unsafe { OwnedFd::from_raw_fd(new) })
    }

    fn set_blocking(file: &File, blocking: bool) {
        let fd = file.as_raw_fd();
        // SAFETY: F_GETFL/F_SETFL on an open fd take and return plain flags.
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFL);
            let flags = if blocking {
                flags & !libc::O_NONBLOCK
            } else {
                flags | libc::O_NONBLOCK
            };
            assert_eq!(libc::fcntl(fd, libc::F_SETFL, flags), 0);
        }
    }

    /// Whether `fd` is an open Unix stream socket other than the standard streams.
    fn is_unix_stream(fd: libc::c_int) -> bool {
        let option = |name| {
            let mut value: libc::c_int = 0;
            let mut len = size_of::<libc::c_int>() as libc::socklen_t;
            // SAFETY: `value` and `len` are valid for writes and sized as passed; on a
            // closed fd or a non-socket the call fails harmlessly.
            let ret = unsafe {
                libc::getsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    name,
                    (&raw mut value).cast(),
                    &mut len,
                )
            };
            (ret == 0).then_some(value)
        };
        fd > 2
            && option(libc::SO_DOMAIN) == Some(libc::AF_UNIX)
            && option(libc::SO_TYPE) == Some(libc::SOCK_STREAM)
    }

    /// Whether thread `tid` of this process is blocked in `write(2)`.
    fn blocked_in_write(tid: libc::pid_t) -> bool {
        std::fs::read_to_string(format!("/proc/self/task/{tid}/syscall")).is_ok_and(|s| {
            s.split_whitespace().next() == Some(libc::SYS_write.to_string().as_str())
        })
    }

    on_runtime(|| async {
        use std::io::{Read, Write};

        let listener = signal(SignalKind::from_raw(libc::SIGPROF)).unwrap();
        // The listener's read end is in its `Debug`; the write end is its socket pair's
        // other end, a Unix stream socket of a nearby number (the tests of this file run
        // one at a time), found by sending a byte through each candidate.
        let debug = format!("{listener:?}");
        let reader_fd: libc::c_int = debug
            .split("fd: ")
            .nth(1)
            .and_then(|rest| rest.trim_end_matches(" }").parse().ok())
            .expect("the listener's fd in its Debug");
        let mut reader = dup(reader_fd);
        set_blocking(&reader, false);
        let mut writer = (reader_fd - 4..reader_fd + 5)
            .filter(|&fd| fd != reader_fd && is_unix_stream(fd))
            .map(dup)
            .find(|candidate| {
                let mut probe = [0u8; 1];
                (&*candidate).write(&[0x5a]).is_ok()
                    && reader
                        .read(&mut probe)
                        .is_ok_and(|n| n == 1 && probe[0] == 0x5a)
            })
            .expect("the listener's write end");
        // Fill the pipe, then make its writes block.
        set_blocking(&writer, false);
        let chunk = [0u8; 4096];
        while writer.write(&chunk).is_ok() {}
        set_blocking(&writer, true);

        // A delivery on another thread: its handler blocks in the write.
        let tid = Arc::new(AtomicI32::new(0));
        let raiser = thread::spawn({
            let tid = tid.clone();
            move || {
                // SAFETY: gettid has no preconditions.
                tid.store(unsafe { libc::gettid() }, Ordering::SeqCst);
                raise(libc::SIGPROF);
            }
        });
        let give_up = Instant::now() + PATIENCE;
        while tid.load(Ordering::SeqCst) == 0 || !blocked_in_write(tid.load(Ordering::SeqCst)) {
            assert!(
                Instant::now() < give_up,
                "the handler never blocked in its write"
            );
            thread::yield_now();
        }

        // Another thread looks, a while later, whether the drop has returned, and only
        // then drains the pipe so that the handler's write can finish.
        let dropped = Arc::new(AtomicBool::new(false));
        let unblocker = thread::spawn({
            let dropped = dropped.clone();
            move || {
                thread::sleep(Duration::from_millis(200));
                let returned_early = dropped.load(Ordering::SeqCst);
                let mut buf = [0u8; 4096];
                while reader.read(&mut buf).is_ok_and(|n| n > 0) {}
                returned_early
            }
        });
        drop(listener);
        dropped.store(true, Ordering::SeqCst);
        let returned_early = unblocker.join().unwrap();
        raiser.join().unwrap();
        drop(writer);
        assert!(
            !returned_early,
            "the drop returned while a handler was still writing to the listener's pipe"
        );
    });
}
