//! The backend contract, checked against epoll, poll and the default backend.

mod common;

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, IntoRawFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;
use std::thread;
use std::time::{Duration, Instant};

use common::{CountingWaker, cx, reactor, turn_until, waker};
use reactor::{BackendKind, Readiness};

const LIMIT: Duration = Duration::from_secs(10);

fn pair() -> (UnixStream, UnixStream) {
    let (a, b) = UnixStream::pair().expect("socketpair");
    a.set_nonblocking(true).unwrap();
    b.set_nonblocking(true).unwrap();
    (a, b)
}

fn read_and_write_readiness(kind: Option<BackendKind>) {
    let r = reactor(kind);
    let (a, mut b) = pair();
    let reg = r.handle().register(a.as_raw_fd()).unwrap();
    let rw = CountingWaker::new();
    let ww = CountingWaker::new();
    let (rwk, wwk) = (waker(&rw), waker(&ww));
    // Nothing to read yet; the write side becomes ready once the backend reports it.
    assert!(reg.poll_read_ready(&mut cx(&rwk)).is_pending());
    if reg.poll_write_ready(&mut cx(&wwk)).is_pending() {
        assert!(turn_until(&r, LIMIT, || ww.count() > 0));
    }
    assert!(
        matches!(reg.poll_write_ready(&mut cx(&wwk)), Poll::Ready(Ok(ready)) if ready.is_writable())
    );
    assert_eq!(rw.count(), 0, "no data, no read wake");

    b.write_all(b"hello").unwrap();
    assert!(turn_until(&r, LIMIT, || rw.count() > 0));
    assert_eq!(rw.count(), 1);
    let ready = match reg.poll_read_ready(&mut cx(&rwk)) {
        Poll::Ready(Ok(ready)) => ready,
        other => panic!("read readiness was not set: {other:?}"),
    };
    assert!(ready.is_readable());
    assert!(!ready.is_read_closed());

    // Drain through the helper: the data comes out, then WouldBlock clears readiness and
    // stores the waker again.
    let mut buf = [0u8; 16];
    let n = match reg.poll_read_io(&mut cx(&rwk), || (&a).read(&mut buf)) {
        Poll::Ready(Ok(n)) => n,
        other => panic!("expected data, got {other:?}"),
    };
    assert_eq!(&buf[..n], b"hello");
    assert!(
        reg.poll_read_io(&mut cx(&rwk), || (&a).read(&mut buf))
            .is_pending()
    );
    assert!(
        !reg.readiness().is_readable(),
        "WouldBlock clears read readiness"
    );
    b.write_all(b"again").unwrap();
    assert!(
        turn_until(&r, LIMIT, || rw.count() > 1),
        "a stored waker is woken by new data"
    );
}

fn peer_close_is_read_closed(kind: Option<BackendKind>) {
    let r = reactor(kind);
    let (a, b) = pair();
    let reg = r.handle().register(a.as_raw_fd()).unwrap();
    let w = CountingWaker::new();
    let wk = waker(&w);
    assert!(reg.poll_read_ready(&mut cx(&wk)).is_pending());
    drop(b);
    assert!(turn_until(&r, LIMIT, || w.count() > 0));
    assert!(reg.is_read_closed(), "readiness: {:?}", reg.readiness());
    let mut buf = [0u8; 4];
    assert_eq!((&a).read(&mut buf).unwrap(), 0, "EOF");
    // Read-closed is sticky: clearing readiness keeps it.
    reg.clear_readiness(Readiness::READABLE | Readiness::READ_CLOSED);
    assert!(reg.is_read_closed());
    assert!(reg.poll_read_ready(&mut cx(&wk)).is_ready());
}

fn reset_is_error_or_hup(kind: Option<BackendKind>) {
    let r = reactor(kind);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    client.set_nonblocking(true).unwrap();
    let reg = r.handle().register(client.as_raw_fd()).unwrap();
    let w = CountingWaker::new();
    let wk = waker(&w);
    assert!(reg.poll_read_ready(&mut cx(&wk)).is_pending());
    // SO_LINGER with a zero timeout makes close() send RST instead of FIN.
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: `server` is an open socket; the option value is a valid `linger` of the
    // size passed.
    let rc = unsafe {
        libc::setsockopt(
            server.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0);
    drop(server);
    assert!(turn_until(&r, LIMIT, || w.count() > 0));
    let ready = reg.readiness();
    assert!(ready.is_read_closed(), "reset marks read-closed: {ready:?}");
    assert!(
        ready.is_error() || ready.is_write_closed(),
        "reset is error or HUP: {ready:?}"
    );
    let mut buf = [0u8; 4];
    let err = (&client)
        .read(&mut buf)
        .expect_err("a reset connection fails to read");
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
}

fn more_ready_fds_than_the_events_buffer(kind: Option<BackendKind>) {
    let r = match kind {
        Some(k) => reactor::Reactor::builder()
            .backend(k)
            .events_capacity(4)
            .build()
            .unwrap(),
        None => reactor::Reactor::builder()
            .events_capacity(4)
            .build()
            .unwrap(),
    };
    assert_eq!(r.events_capacity(), 4);
    let n = 100;
    let pairs: Vec<_> = (0..n).map(|_| pair()).collect();
    let regs: Vec<_> = pairs
        .iter()
        .map(|(a, _)| r.handle().register(a.as_raw_fd()).unwrap())
        .collect();
    let counters: Vec<_> = (0..n).map(|_| CountingWaker::new()).collect();
    let wakers: Vec<_> = counters.iter().map(waker).collect();
    for (reg, wk) in regs.iter().zip(&wakers) {
        assert!(reg.poll_read_ready(&mut cx(wk)).is_pending());
    }
    for (_, b) in &pairs {
        (&*b).write_all(b"x").unwrap();
    }
    assert!(
        turn_until(&r, LIMIT, || counters.iter().all(|c| c.count() == 1)),
        "every fd is delivered"
    );
    assert!(regs.iter().all(|reg| reg.readiness().is_readable()));
    assert!(
        r.events_capacity() > 4,
        "the events buffer grew: {}",
        r.events_capacity()
    );
    assert!(r.events_capacity() <= reactor::MAX_EVENTS);
}

fn stored_waker_is_replaced(kind: Option<BackendKind>) {
    let r = reactor(kind);
    let (a, mut b) = pair();
    let reg = r.handle().register(a.as_raw_fd()).unwrap();
    let first = CountingWaker::new();
    let second = CountingWaker::new();
    assert!(reg.poll_read_ready(&mut cx(&waker(&first))).is_pending());
    assert!(reg.poll_read_ready(&mut cx(&waker(&second))).is_pending());
    b.write_all(b"x").unwrap();
    assert!(turn_until(&r, LIMIT, || second.count() > 0));
    assert_eq!(first.count(), 0, "the replaced waker is not woken");
    assert_eq!(second.count(), 1);
}

fn drop_deregisters_and_reused_slot_gets_no_stale_event(kind: Option<BackendKind>) {
    let r = reactor(kind);
    let (a, mut b) = pair();
    let old = r.handle().register(a.as_raw_fd()).unwrap();
    let old_token = old.token();
    let w = CountingWaker::new();
    assert!(old.poll_read_ready(&mut cx(&waker(&w))).is_pending());
    assert_eq!(r.handle().registrations(), 1);
    // Make the old fd ready, then drop its registration before any turn sees it.
    b.write_all(b"stale").unwrap();
    drop(old);
    assert_eq!(r.handle().registrations(), 0);

    let (c, _d) = pair();
    let new = r.handle().register(c.as_raw_fd()).unwrap();
    assert_eq!(new.token().index, old_token.index, "the slot is reused");
    assert_ne!(
        new.token().generation,
        old_token.generation,
        "with a new generation"
    );
    let nw = CountingWaker::new();
    assert!(new.poll_read_ready(&mut cx(&waker(&nw))).is_pending());
    r.turn(Some(Instant::now() + Duration::from_millis(20)))
        .unwrap();
    assert!(
        !new.readiness().is_readable(),
        "no stale read readiness: {:?}",
        new.readiness()
    );
    assert_eq!(nw.count(), 0);
    // The dropped registration's waker is released, not woken by the old fd's data.
    assert_eq!(w.count(), 0);
    // The old fd can be registered again: it really was removed from the backend.
    let again = r
        .handle()
        .register(a.as_raw_fd())
        .expect("re-register after drop");
    drop(again);
}

fn notification_wakes_a_blocked_turn(kind: Option<BackendKind>) {
    let r = reactor(kind);
    let notifier = r.notifier();
    let started = Instant::now();
    let t = thread::spawn(move || {
        thread::sleep(Duration::from_millis(30));
        notifier.notify();
    });
    // Nothing is registered, so only the notification can end this turn before its
    // deadline (a turn never returns early otherwise); the deadline only bounds a
    // regression, which then fails here instead of hanging.
    let deadline = started + LIMIT;
    r.turn(Some(deadline)).unwrap();
    let woke = Instant::now();
    t.join().unwrap();
    assert!(
        woke < deadline,
        "the notification did not end the blocked turn"
    );
    assert!(woke - started >= Duration::from_millis(30));
}

fn notification_before_the_wait_is_not_lost(kind: Option<BackendKind>) {
    let r = reactor(kind);
    let before = r.notifier().signal_writes();
    for _ in 0..1000 {
        r.notifier().notify();
    }
    // Not parked: the flag alone is set, with no syscall.
    assert_eq!(r.notifier().signal_writes(), before);
    // The pending notification stops the next wait from blocking.
    let started = Instant::now();
    r.turn(Some(Instant::now() + Duration::from_secs(30)))
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(30));
}

fn a_burst_of_notifications_is_coalesced(kind: Option<BackendKind>) {
    let r = reactor(kind);
    let notifier = r.notifier();
    let done = Arc::new(AtomicBool::new(false));
    let t = {
        let (notifier, done) = (notifier.clone(), done.clone());
        thread::spawn(move || {
            for _ in 0..20_000 {
                notifier.notify();
            }
            done.store(true, Ordering::SeqCst);
            notifier.notify();
        })
    };
    let mut waits = 0u64;
    let end = Instant::now() + LIMIT;
    while !done.load(Ordering::SeqCst) {
        // Bounded, so that a lost notification fails the test instead of hanging it.
        r.turn(Some(end)).unwrap();
        assert!(Instant::now() < end, "a notification was lost");
        waits += 1;
    }
    t.join().unwrap();
    let writes = notifier.signal_writes();
    assert!(
        writes <= waits,
        "{writes} signal writes for {waits} waits: at most one per wait"
    );
    assert!(
        writes < 20_000,
        "a burst of 20000 notifications cost {writes} syscalls"
    );
}

extern "C" fn on_sigusr1(_: libc::c_int) {}

fn a_signal_interrupting_a_wait_is_not_an_error(kind: Option<BackendKind>) {
    // SAFETY: the sigaction struct is zero-initialised, then given a handler that does
    // nothing (async-signal-safe) and no SA_RESTART, so waits see EINTR.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_sigusr1 as *const () as usize;
        libc::sigemptyset(&mut sa.sa_mask);
        assert_eq!(libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut()), 0);
    }
    let r = reactor(kind);
    // SAFETY: pthread_self has no preconditions.
    let me = unsafe { libc::pthread_self() } as usize;
    let stop = Arc::new(AtomicBool::new(false));
    let t = {
        let stop = stop.clone();
        thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                thread::sleep(Duration::from_millis(5));
                // SAFETY: `me` is the test thread, alive until `stop` is set and this
                // thread is joined.
                unsafe { libc::pthread_kill(me as libc::pthread_t, libc::SIGUSR1) };
            }
        })
    };
    let deadline = Instant::now() + Duration::from_millis(100);
    let result = r.turn(Some(deadline));
    stop.store(true, Ordering::SeqCst);
    t.join().unwrap();
    assert_eq!(result.unwrap(), 0, "EINTR is zero events");
    assert!(
        Instant::now() >= deadline,
        "interrupted waits resume until the deadline"
    );
}

fn a_turn_never_returns_before_its_deadline(kind: Option<BackendKind>) {
    let r = reactor(kind);
    for micros in [50, 100, 999, 1_000, 1_500, 3_000] {
        let deadline = Instant::now() + Duration::from_micros(micros);
        assert_eq!(r.turn(Some(deadline)).unwrap(), 0);
        assert!(
            Instant::now() >= deadline,
            "a {micros} µs turn returned early"
        );
    }
    // A deadline in the past polls without blocking.
    r.turn(Some(Instant::now() - Duration::from_millis(1)))
        .unwrap();
}

fn bad_inputs_are_errors(kind: Option<BackendKind>) {
    let r = reactor(kind);
    let h = r.handle();
    assert_eq!(
        h.register(-1).unwrap_err().kind(),
        io::ErrorKind::InvalidInput
    );
    // A closed fd.
    let (a, _b) = pair();
    let closed = a.into_raw_fd();
    // SAFETY: `closed` was just released by `into_raw_fd` and is owned by nobody else.
    unsafe { libc::close(closed) };
    let err = h.register(closed).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
    assert!(
        err.to_string().contains(&closed.to_string()),
        "the message names the fd: {err}"
    );
    // The same fd twice.
    let (c, _d) = pair();
    let first = h.register(c.as_raw_fd()).unwrap();
    let err = h.register(c.as_raw_fd()).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::AlreadyExists, "{err}");
    assert_eq!(
        h.registrations(),
        1,
        "a failed register leaves no slot behind"
    );
    drop(first);
    // Deregistering something the backend does not know: its fd was closed first.
    let (e, _f) = pair();
    let raw = e.into_raw_fd();
    let reg = h.register(raw).unwrap();
    // SAFETY: `raw` is owned by this test (released by `into_raw_fd`).
    unsafe { libc::close(raw) };
    let err = reg.deregister().unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
    assert_eq!(h.registrations(), 0);
}

fn dropping_the_reactor_shuts_its_registrations_down(kind: Option<BackendKind>) {
    let r = reactor(kind);
    let handle = r.handle().clone();
    let (a, _b) = pair();
    let (c, _d) = pair();
    let reg = handle.register(a.as_raw_fd()).unwrap();
    let idle = handle.register(c.as_raw_fd()).unwrap();
    let (rw, ww) = (CountingWaker::new(), CountingWaker::new());
    // No turn has run, so neither direction is ready yet: both wakers are stored.
    assert!(reg.poll_read_ready(&mut cx(&waker(&rw))).is_pending());
    assert!(reg.poll_write_ready(&mut cx(&waker(&ww))).is_pending());
    assert!(!handle.is_shut_down());
    drop(r);

    assert!(handle.is_shut_down());
    assert_eq!(
        rw.count(),
        1,
        "the waiting reader is woken, not left waiting"
    );
    assert_eq!(ww.count(), 1, "so is the waiting writer");
    for reg in [&reg, &idle] {
        assert_eq!(
            reg.readiness(),
            Readiness::SHUTDOWN,
            "only SHUTDOWN is left"
        );
        let noop = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(noop);
        for polled in [reg.poll_read_ready(&mut cx), reg.poll_write_ready(&mut cx)] {
            match polled {
                Poll::Ready(Err(e)) => {
                    assert_eq!(e.kind(), io::ErrorKind::Other);
                    assert!(e.to_string().contains("has been dropped"), "{e}");
                }
                other => panic!("a registration of a dropped reactor gave {other:?}"),
            }
        }
        // The operation is not even tried: the fd is fine, its reactor is not.
        let mut ran = false;
        let polled = reg.poll_read_io(&mut cx, || {
            ran = true;
            Ok(())
        });
        assert!(matches!(polled, Poll::Ready(Err(_))), "{polled:?}");
        assert!(!ran);
        let polled = reg.poll_write_io(&mut cx, || {
            ran = true;
            Ok(())
        });
        assert!(matches!(polled, Poll::Ready(Err(_))), "{polled:?}");
        assert!(!ran);
    }
    // New registrations are refused with the same error.
    let (e, _f) = pair();
    let err = handle.register(e.as_raw_fd()).unwrap_err();
    assert!(err.to_string().contains("has been dropped"), "{err}");
    // Deregistering has nothing left to undo, and succeeds; so does a plain drop.
    reg.deregister().unwrap();
    drop(idle);
    assert_eq!(handle.registrations(), 0);
}

per_backend!(
    read_and_write_readiness,
    peer_close_is_read_closed,
    reset_is_error_or_hup,
    more_ready_fds_than_the_events_buffer,
    stored_waker_is_replaced,
    drop_deregisters_and_reused_slot_gets_no_stale_event,
    notification_wakes_a_blocked_turn,
    notification_before_the_wait_is_not_lost,
    a_burst_of_notifications_is_coalesced,
    a_signal_interrupting_a_wait_is_not_an_error,
    a_turn_never_returns_before_its_deadline,
    bad_inputs_are_errors,
    dropping_the_reactor_shuts_its_registrations_down,
);
