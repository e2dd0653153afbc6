//! The paused clock on a running loop: `time::{pause, resume, advance, now}`,
//! `start_paused`, and auto-advance, which jumps to the next deadline only when nothing
//! is ready, never over I/O that has arrived.

mod common;

use std::cell::RefCell;
use std::future::pending;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::rc::Rc;
use std::thread;
use std::time::{Duration, Instant};

use futures::FutureExt;
use runtime::Runtime;
use runtime::time::{self, CommonTimeout, advance, interval, now, pause, resume, sleep, timeout};

const HOUR: Duration = Duration::from_secs(3600);
const MS: Duration = Duration::from_millis(1);

/// Generous: the tests below take no real time for their virtual hours.
const REAL_BOUND: Duration = Duration::from_secs(10);

fn panic_message(f: impl FnOnce()) -> String {
    let payload = catch_unwind(AssertUnwindSafe(f)).expect_err("it should have panicked");
    match payload.downcast::<&'static str>() {
        Ok(s) => (*s).to_owned(),
        Err(payload) => *payload.downcast::<String>().expect("a string payload"),
    }
}

/// A connected, non-blocking socket pair, the first end registered with the current
/// loop's reactor.
fn registered_pair() -> (UnixStream, reactor::Registration, UnixStream) {
    let (ours, theirs) = UnixStream::pair().unwrap();
    ours.set_nonblocking(true).unwrap();
    let registration = reactor::Handle::current()
        .register(ours.as_raw_fd())
        .unwrap();
    (ours, registration, theirs)
}

/// Reads what is there, waiting for readability on the registration first.
async fn read_some(socket: &UnixStream, registration: &reactor::Registration) -> Vec<u8> {
    loop {
        registration.readable().await.unwrap();
        let mut buf = [0; 64];
        match (&*socket).read(&mut buf) {
            Ok(n) => return buf[..n].to_vec(),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                registration.clear_readiness(reactor::Readiness::READABLE);
            }
            Err(e) => panic!("read failed: {e}"),
        }
    }
}

#[runtime::test(start_paused = true)]
async fn a_one_hour_timeout_finishes_in_well_under_a_second() {
    let real = Instant::now();
    let start = now();
    let out = timeout(HOUR, pending::<()>()).await;
    assert!(out.is_err(), "the timeout elapsed");
    assert!(now() - start >= HOUR, "an hour passed on the clock");
    assert!(real.elapsed() < REAL_BOUND, "took {:?}", real.elapsed());
}

#[runtime::test]
async fn an_interval_ticks_with_advance_and_without_auto_advance() {
    pause();
    let start = now();
    let period = 10 * MS;
    let mut ticks = interval(period);
    assert_eq!(ticks.tick().await, start);
    for n in 1..=5u32 {
        assert!(ticks.tick().now_or_never().is_none(), "not due yet");
        advance(period).await;
        // Ready at its first poll: `advance` fired it, the loop did not jump.
        assert_eq!(ticks.tick().now_or_never(), Some(start + period * n));
        assert_eq!(now(), start + period * n);
    }
}

#[runtime::test(start_paused = true)]
async fn advance_fires_the_timers_it_passes_and_their_tasks_run_first() {
    let order = Rc::new(RefCell::new(Vec::new()));
    for secs in [3, 1, 2] {
        let order = order.clone();
        drop(runtime::spawn(async move {
            sleep(Duration::from_secs(secs)).await;
            order.borrow_mut().push(secs);
        }));
    }
    runtime::yield_now().await;
    advance(Duration::from_secs(2)).await;
    assert_eq!(*order.borrow(), [1, 2]);
    advance(Duration::from_secs(1)).await;
    assert_eq!(*order.borrow(), [1, 2, 3]);
}

#[runtime::test(start_paused = true)]
async fn auto_advance_goes_from_deadline_to_deadline_in_order() {
    let start = now();
    let order = Rc::new(RefCell::new(Vec::new()));
    let tasks: Vec<_> = [30u64, 10, 20]
        .into_iter()
        .map(|secs| {
            let order = order.clone();
            runtime::spawn(async move {
                sleep(Duration::from_secs(secs)).await;
                order.borrow_mut().push((secs, now() - start));
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let secs = Duration::from_secs;
    assert_eq!(
        *order.borrow(),
        [(10, secs(10)), (20, secs(20)), (30, secs(30))],
        "each woke exactly at its deadline"
    );
}

#[runtime::test(start_paused = true)]
async fn auto_advance_does_not_skip_io_that_is_ready() {
    let (ours, registration, mut theirs) = registered_pair();
    let start = now();
    // Data already in the socket, and a timer an hour away: the read wins, at once.
    theirs.write_all(b"ping").unwrap();
    let read = timeout(HOUR, read_some(&ours, &registration)).await;
    assert_eq!(read.unwrap(), b"ping");
    assert_eq!(now(), start, "the clock did not jump");
    // A writer task on the same loop, while a far sleep waits in another task.
    let far = runtime::spawn(sleep(HOUR));
    let writer = runtime::spawn(async move {
        runtime::yield_now().await;
        theirs.write_all(b"pong").unwrap();
        theirs
    });
    let read = timeout(HOUR, read_some(&ours, &registration)).await;
    assert_eq!(read.unwrap(), b"pong");
    assert_eq!(now(), start, "still no jump: the write came first");
    drop(writer.await.unwrap());
    far.await.unwrap();
    assert_eq!(
        now(),
        start + HOUR,
        "then, with nothing else to do, it jumped"
    );
}

#[runtime::test(start_paused = true)]
async fn sockets_keep_working_while_the_clock_is_paused() {
    let (ours, registration, theirs) = registered_pair();
    let start = now();
    // With no timer set, the loop waits for the peer in real time.
    let peer = thread::spawn(move || {
        let mut theirs = theirs;
        thread::sleep(20 * MS);
        theirs.write_all(b"late").unwrap();
        let mut back = [0; 4];
        theirs.read_exact(&mut back).unwrap();
        back
    });
    assert_eq!(read_some(&ours, &registration).await, b"late");
    (&ours).write_all(b"echo").unwrap();
    assert_eq!(&peer.join().unwrap(), b"echo");
    assert_eq!(now(), start, "real time does not move a paused clock");
}

#[runtime::test(start_paused = true)]
async fn blocking_pool_work_holds_the_clock() {
    let start = now();
    let job = runtime::spawn_blocking(|| {
        thread::sleep(20 * MS);
        "done"
    });
    // An auto-advance would fire this timeout before the job ends.
    let out = timeout(Duration::from_secs(60), job).await;
    assert_eq!(out.expect("the job won").unwrap(), "done");
    assert_eq!(now(), start);
}

#[runtime::test(start_paused = true)]
async fn resets_and_common_timeouts_read_the_paused_clock() {
    let start = now();
    let mut nap = Box::pin(sleep(HOUR));
    assert!((&mut nap).now_or_never().is_none());
    nap.as_mut().reset(now() + 2 * HOUR);
    nap.await;
    assert_eq!(now() - start, 2 * HOUR);
    let idle = CommonTimeout::new(HOUR);
    let mut s = idle.sleep();
    assert_eq!(s.deadline(), start + 3 * HOUR);
    Pin::new(&mut s).await;
    assert_eq!(now() - start, 3 * HOUR);
}

#[runtime::test(start_paused = true)]
async fn a_resumed_clock_goes_on_from_where_it_stood() {
    let start = now();
    advance(HOUR).await;
    resume();
    let real = Instant::now();
    sleep(5 * MS).await;
    assert!(real.elapsed() >= 5 * MS, "a resumed clock takes real time");
    assert!(now() >= start + HOUR + 5 * MS, "and never goes back");
    pause();
}

#[runtime::test]
async fn the_clock_moves_only_with_advance_or_auto_advance() {
    let real_start = now();
    pause();
    let paused_at = now();
    assert!(paused_at >= real_start);
    thread::sleep(2 * MS);
    runtime::yield_now().await;
    assert_eq!(now(), paused_at);
}

#[test]
fn pause_resume_and_advance_outside_a_runtime_panic_clearly() {
    let _watchdog = common::watchdog();
    let outside = "`runtime::time::pause` was called outside a runtime";
    assert!(panic_message(pause).starts_with(outside));
    assert!(panic_message(resume).starts_with("`runtime::time::resume` was called outside"));
    let advance_outside = || {
        let _ = advance(HOUR).now_or_never();
    };
    assert!(
        panic_message(advance_outside).starts_with("`runtime::time::advance` was called outside")
    );
}

#[test]
fn advance_and_resume_on_a_running_clock_panic_clearly_and_pause_twice_too() {
    let _watchdog = common::watchdog();
    let rt = Runtime::new().unwrap();
    let not_paused = "the clock is not paused: pause it first (`runtime::time::pause()`, \
                      or `#[runtime::test(start_paused = true)]`)";
    let message = panic_message(|| rt.block_on(advance(HOUR)));
    assert_eq!(message, not_paused);
    assert_eq!(
        panic_message(|| rt.block_on(async { resume() })),
        not_paused
    );
    let message = panic_message(|| {
        rt.block_on(async {
            pause();
            pause();
        })
    });
    assert_eq!(message, "the clock is already paused");
}

#[test]
fn start_paused_pauses_the_runtime_clock_and_only_that_runtime_s() {
    let _watchdog = common::watchdog();
    let paused = Runtime::builder().start_paused(true).build().unwrap();
    let running = Runtime::new().unwrap();
    let frozen = paused.block_on(async { now() });
    thread::sleep(2 * MS);
    assert_eq!(paused.block_on(async { now() }), frozen);
    assert!(running.block_on(async { now() }) > frozen);
    assert!(time::now() > frozen, "outside both: the real clock");
    let real = Instant::now();
    paused.block_on(sleep(HOUR));
    assert!(real.elapsed() < REAL_BOUND);
}
