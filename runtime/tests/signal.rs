//! Signals delivered to the process reach the listeners created before the delivery.
//!
//! Each test uses its own signal number, so tests running at the same time in this
//! process do not see each other's deliveries. Every listener is created (and with it
//! the process-wide handler installed) before its signal is raised, so no signal's
//! default action can end the test process.

use std::future::{Future, poll_fn};
use std::io;
use std::pin::pin;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Barrier};
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
    on_runtime(|| async {
        for signum in [libc::SIGKILL, libc::SIGSTOP, libc::SIGSEGV, 0, -1] {
            let err = signal(SignalKind::from_raw(signum)).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "signal {signum}");
        }
    });
}

#[test]
fn a_listener_needs_a_runtime() {
    assert!(signal(SignalKind::hangup()).is_err());
}

#[test]
fn listeners_come_and_go_during_a_signal_storm() {
    use std::sync::atomic::{AtomicBool, Ordering};

    on_runtime(|| async {
        let sig = SignalKind::from_raw(libc::SIGPROF);
        let mut kept = signal(sig).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let storm = thread::spawn({
            let stop = stop.clone();
            move || {
                while !stop.load(Ordering::Relaxed) {
                    kill_process(libc::SIGPROF);
                    thread::yield_now();
                }
            }
        });
        // Each drop races with handlers writing to the listener's pipe.
        for _ in 0..2000 {
            drop(signal(sig).unwrap());
        }
        stop.store(true, Ordering::Relaxed);
        storm.join().unwrap();
        next(&mut kept).await;
    });
}
