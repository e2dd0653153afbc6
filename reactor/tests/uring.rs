//! The io_uring backend's completion sockets, driven by hand: the buffer pool running
//! dry (`ENOBUFS`), sockets dropped with reads and writes in flight, and the reactor
//! dropped with operations in flight. Every byte is checked against a pattern, so a
//! buffer handed out twice or read after it went back to the kernel shows up as
//! corrupted data (and, in these debug builds, as the buffer owner checker's panic).
//!
//! Skipped, with a line on stderr, where the kernel refuses io_uring.
#![cfg(target_os = "linux")]

mod common;

use std::io::{self, IoSlice, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use common::{CountingWaker, uring_refused, waker};
use reactor::{BackendKind, Reactor, Registration};

/// Only a hang reaches it.
const LIMIT: Duration = Duration::from_secs(30);

fn pattern(seed: u8, i: usize) -> u8 {
    (i as u64)
        .wrapping_mul(2_654_435_761)
        .wrapping_add(u64::from(seed))
        .rotate_right(13) as u8
}

fn uring(buffers: u16) -> Option<Reactor> {
    if uring_refused() {
        return None;
    }
    Some(
        Reactor::builder()
            .backend(BackendKind::Uring)
            .uring_buffers(buffers, 4096)
            .build()
            .expect("uring reactor"),
    )
}

fn pair() -> (UnixStream, UnixStream) {
    let (a, b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    (a, b)
}

/// Turns `reactor` until `op` is ready, at most `LIMIT`.
fn drive<T>(reactor: &Reactor, mut op: impl FnMut(&mut Context<'_>) -> Poll<T>) -> T {
    let w = waker(&CountingWaker::new());
    let mut cx = Context::from_waker(&w);
    let end = Instant::now() + LIMIT;
    loop {
        if let Poll::Ready(v) = op(&mut cx) {
            return v;
        }
        assert!(Instant::now() < end, "an operation hung");
        reactor
            .turn(Some(Instant::now() + Duration::from_millis(20)))
            .unwrap();
    }
}

fn recv(reactor: &Reactor, reg: &Registration, buf: &mut [u8]) -> io::Result<usize> {
    drive(reactor, |cx| reg.completion().unwrap().poll_recv(cx, buf))
}

fn send(reactor: &Reactor, reg: &Registration, buf: &[u8]) -> io::Result<usize> {
    drive(reactor, |cx| {
        reg.completion()
            .unwrap()
            .poll_send(cx, &[IoSlice::new(buf)])
    })
}

#[test]
fn enobufs_when_every_ring_buffer_is_taken() {
    let Some(r) = uring(16) else { return };
    let stats = r.uring_stats().unwrap();
    assert_eq!((stats.buffers, stats.buffers_in_kernel), (16, 16));
    // Eight sockets, 64 KiB each: 512 KiB, eight times what 16 buffers of 4 KiB hold.
    const EACH: usize = 64 << 10;
    let pairs: Vec<_> = (0..8).map(|_| pair()).collect();
    let regs: Vec<Registration> = pairs
        .iter()
        .map(|(a, _)| r.handle().register_socket(a.as_raw_fd()).unwrap())
        .collect();
    // A first read arms each socket's receive.
    let w = waker(&CountingWaker::new());
    let mut cx = Context::from_waker(&w);
    for reg in &regs {
        let mut buf = [0u8; 1];
        assert!(
            reg.completion()
                .unwrap()
                .poll_recv(&mut cx, &mut buf)
                .is_pending()
        );
    }
    for (i, (_, b)) in pairs.iter().enumerate() {
        let data: Vec<u8> = (0..EACH).map(|k| pattern(i as u8, k)).collect();
        (&*b).write_all(&data).unwrap();
    }
    // Nobody reads: the buffers run out and receives stop, without spinning.
    let end = Instant::now() + LIMIT;
    while r.uring_stats().unwrap().starved_receives == 0 {
        assert!(Instant::now() < end, "no receive ever ran out of buffers");
        r.turn(Some(Instant::now() + Duration::from_millis(20)))
            .unwrap();
    }
    assert_eq!(r.uring_stats().unwrap().buffers_in_kernel, 0);
    let turns = r.turns();
    r.turn(Some(Instant::now() + Duration::from_millis(50)))
        .unwrap();
    assert_eq!(r.turns(), turns + 1, "a starved ring does not busy-loop");
    // Now every byte arrives, in order, as buffers come back.
    for (i, reg) in regs.iter().enumerate() {
        let mut got = 0;
        let mut buf = vec![0u8; 3000];
        while got < EACH {
            let n = recv(&r, reg, &mut buf).unwrap();
            assert!(n > 0, "socket {i} ended early at {got}");
            for (k, &byte) in buf[..n].iter().enumerate() {
                assert_eq!(
                    byte,
                    pattern(i as u8, got + k),
                    "socket {i} byte {}",
                    got + k
                );
            }
            got += n;
        }
    }
    let stats = r.uring_stats().unwrap();
    assert!(stats.starved_receives > 0);
    drop(regs);
    drop(pairs);
}

#[test]
fn drop_with_reads_and_writes_in_flight() {
    let Some(r) = uring(64) else { return };
    let (a, mut b) = pair();
    let reg = r.handle().register_socket(a.as_raw_fd()).unwrap();
    let w = waker(&CountingWaker::new());
    let mut cx = Context::from_waker(&w);
    // A read waits: its receive is armed at the next turn.
    let mut one = [0u8; 1];
    assert!(
        reg.completion()
            .unwrap()
            .poll_recv(&mut cx, &mut one)
            .is_pending()
    );
    // The peer does not read: write until the kernel holds a send and more is staged.
    let mut sent = 0usize;
    let end = Instant::now() + LIMIT;
    loop {
        let chunk: Vec<u8> = (sent..sent + (16 << 10)).map(|k| pattern(7, k)).collect();
        match reg
            .completion()
            .unwrap()
            .poll_send(&mut cx, &[IoSlice::new(&chunk)])
        {
            Poll::Ready(Ok(n)) => sent += n,
            Poll::Ready(Err(e)) => panic!("send: {e}"),
            Poll::Pending => break,
        }
        r.turn(Some(Instant::now())).unwrap();
        assert!(Instant::now() < end, "the writes never filled the socket");
    }
    let in_flight = r.uring_stats().unwrap().in_flight;
    assert!(
        in_flight >= 2,
        "a receive and a send in flight, and the notifier: {in_flight}"
    );
    // The owner drops the socket and closes its fd now.
    drop(reg);
    drop(a);
    // The peer still gets every byte written before the drop, then the end of stream.
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        b.read_to_end(&mut all).unwrap();
        all
    });
    let end = Instant::now() + LIMIT;
    while !reader.is_finished() {
        assert!(
            Instant::now() < end,
            "the peer never saw the end of the stream"
        );
        r.turn(Some(Instant::now() + Duration::from_millis(10)))
            .unwrap();
    }
    let all = reader.join().unwrap();
    assert_eq!(all.len(), sent, "bytes written before the drop were lost");
    assert!(
        all.iter()
            .enumerate()
            .all(|(k, &byte)| byte == pattern(7, k))
    );
    // Nothing is left in flight but the notifier's read.
    let end = Instant::now() + LIMIT;
    while r.uring_stats().unwrap().in_flight > 1 {
        assert!(Instant::now() < end, "{:?}", r.uring_stats());
        r.turn(Some(Instant::now() + Duration::from_millis(10)))
            .unwrap();
    }
}

#[test]
fn a_socket_dropped_with_a_read_in_flight_frees_its_buffers() {
    let Some(r) = uring(16) else { return };
    let (a, b) = pair();
    let reg = r.handle().register_socket(a.as_raw_fd()).unwrap();
    let mut buf = [0u8; 1];
    let w = waker(&CountingWaker::new());
    let mut cx = Context::from_waker(&w);
    assert!(
        reg.completion()
            .unwrap()
            .poll_recv(&mut cx, &mut buf)
            .is_pending()
    );
    (&b).write_all(&[1u8; 20_000]).unwrap();
    // The bytes land in ring buffers that nobody reads...
    let end = Instant::now() + LIMIT;
    while r.uring_stats().unwrap().buffers_in_kernel == 16 {
        assert!(Instant::now() < end);
        r.turn(Some(Instant::now() + Duration::from_millis(10)))
            .unwrap();
    }
    // ...until the socket is dropped: they go back, and its receive is cancelled.
    drop(reg);
    drop(a);
    let end = Instant::now() + LIMIT;
    loop {
        r.turn(Some(Instant::now() + Duration::from_millis(10)))
            .unwrap();
        let s = r.uring_stats().unwrap();
        if s.buffers_in_kernel == 16 && s.in_flight == 1 {
            break;
        }
        assert!(Instant::now() < end, "{s:?}");
    }
}

#[test]
fn dropping_the_reactor_with_operations_in_flight() {
    let Some(r) = uring(16) else { return };
    let (a, b) = pair();
    let reg = r.handle().register_socket(a.as_raw_fd()).unwrap();
    let w = waker(&CountingWaker::new());
    let mut cx = Context::from_waker(&w);
    let mut buf = [0u8; 8];
    assert!(
        reg.completion()
            .unwrap()
            .poll_recv(&mut cx, &mut buf)
            .is_pending()
    );
    // A send the peer never takes: it stays in the kernel.
    let chunk = vec![5u8; 32 << 10];
    let end = Instant::now() + LIMIT;
    while reg
        .completion()
        .unwrap()
        .poll_send(&mut cx, &[IoSlice::new(&chunk)])
        .is_ready()
    {
        r.turn(Some(Instant::now())).unwrap();
        assert!(Instant::now() < end);
    }
    r.turn(Some(Instant::now())).unwrap();
    let started = Instant::now();
    drop(r);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the drain waited for the peer: {:?}",
        started.elapsed()
    );
    // The socket outlives its reactor: its I/O fails, it does not hang or touch freed
    // memory.
    assert!(reg.completion().is_none());
    let err = drive_once(|cx| {
        reg.poll_read_with(
            cx,
            (),
            |_| Ok(0usize),
            |c, cx, ()| c.poll_recv(cx, &mut buf),
        )
    });
    assert!(err.unwrap_err().to_string().contains("has been dropped"));
    drop(reg);
    drop((a, b));
}

fn drive_once<T>(mut op: impl FnMut(&mut Context<'_>) -> Poll<T>) -> T {
    let w = waker(&CountingWaker::new());
    let mut cx = Context::from_waker(&w);
    match op(&mut cx) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("pending"),
    }
}

#[test]
fn send_errors_and_into_std() {
    let Some(r) = uring(16) else { return };
    let (a, b) = pair();
    let reg = r.handle().register_socket(a.as_raw_fd()).unwrap();
    assert_eq!(send(&r, &reg, b"hello").unwrap(), 5);
    // Flushed: the kernel took every byte, and the fd can go back to its owner.
    drive(&r, |cx| reg.completion().unwrap().poll_flush(cx)).unwrap();
    let mut got = [0u8; 5];
    (&b).read_exact(&mut got).unwrap();
    assert_eq!(&got, b"hello");
    // Bytes received and not read cannot follow the fd: deregistering says so.
    (&b).write_all(b"unread").unwrap();
    let mut one = [0u8; 1];
    assert_eq!(recv(&r, &reg, &mut one).unwrap(), 1);
    let err = reg.deregister().unwrap_err();
    assert!(err.to_string().contains("not read"), "{err}");
    // A fresh registration with nothing in flight hands its fd back cleanly.
    let reg = r.handle().register_socket(a.as_raw_fd()).unwrap();
    reg.deregister().unwrap();
    // A peer gone: the next write (or flush) reports it.
    drop(b);
    let reg = r.handle().register_socket(a.as_raw_fd()).unwrap();
    let end = Instant::now() + LIMIT;
    let err = loop {
        match send(&r, &reg, b"x") {
            Ok(_) => {}
            Err(e) => break e,
        }
        assert!(Instant::now() < end);
    };
    assert!(
        matches!(
            err.kind(),
            io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
        ),
        "{err}"
    );
}
