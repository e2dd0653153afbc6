//! After `fork` (libevent's `event_reinit`): a child cannot drive its parent's runtime,
//! a fresh runtime serves sockets in the child, and the parent's loop loses no event.
//!
//! Each test forks. The child does its checks and reports through its exit status with
//! `_exit`, so that neither the test harness nor the parent's destructors run there; the
//! parent waits for it with a bound. The parent's runtime has a task waiting for a byte
//! on a socket, and the byte is written before the fork: its readiness event is queued
//! in the parent's epoll instance, which the child shares, and the byte is in the
//! socket, which the child shares too. A child that ran the parent's loop would take
//! one or both, and the parent's task would wait forever.

mod common;

use std::future::poll_fn;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::thread;
use std::time::{Duration, Instant};

use runtime::time::timeout;
use runtime::{Runtime, spawn, yield_now};

const PATIENCE: Duration = Duration::from_secs(20);

/// Reads one byte from `sock` through the current runtime's reactor.
async fn read_byte(sock: UnixStream) -> io::Result<u8> {
    sock.set_nonblocking(true)?;
    let reg = reactor::Handle::current().register(sock.as_raw_fd())?;
    let mut buf = [0u8; 1];
    poll_fn(|cx| reg.poll_read_io(cx, || (&sock).read(&mut buf))).await?;
    Ok(buf[0])
}

fn fork() -> libc::pid_t {
    // SAFETY: `fork` has no memory-safety preconditions. The child only runs code that
    // does not wait for locks other threads of the parent could hold (this binary's
    // other threads are the test harness's, idle, and the watchdogs'), then `_exit`s.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", io::Error::last_os_error());
    pid
}

/// Ends the child with `code`, running no destructor and no `atexit` handler.
fn exit_child(code: i32) -> ! {
    // SAFETY: `_exit` ends the process at once; it has no preconditions.
    unsafe { libc::_exit(code) }
}

/// Waits up to `PATIENCE` for the child `pid` and returns its exit code; kills it and
/// panics if it does not end in time or ends by a signal.
fn wait_for(pid: libc::pid_t) -> i32 {
    let give_up = Instant::now() + PATIENCE;
    loop {
        let mut status = 0;
        // SAFETY: `status` is a valid `int` to write; WNOHANG makes the call return at once.
        let ret = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        assert!(ret >= 0, "waitpid: {}", io::Error::last_os_error());
        if ret == pid {
            assert!(
                libc::WIFEXITED(status),
                "the child died by a signal: {status:#x}"
            );
            return libc::WEXITSTATUS(status);
        }
        if Instant::now() > give_up {
            // SAFETY: `pid` is our own child, not yet reaped.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("the forked child did not finish within {PATIENCE:?}");
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// Whether `f` panics with the message for a forked child.
fn panics_as_forked(f: impl FnOnce()) -> bool {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(()) => false,
        Err(payload) => payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .is_some_and(|m| m.contains("a forked child cannot use it")),
    }
}

/// In the child: a fresh runtime accepts a TCP connection on loopback and echoes a
/// message over it.
fn a_fresh_runtime_serves_sockets() -> io::Result<bool> {
    let rt = Runtime::new()?;
    let listener = TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let mut client = TcpStream::connect(listener.local_addr()?)?;
    client.write_all(b"ping")?;
    let served = rt.block_on(timeout(PATIENCE, async move {
        let reg = reactor::Handle::current().register(listener.as_raw_fd())?;
        let (conn, _) = poll_fn(|cx| reg.poll_read_io(cx, || listener.accept())).await?;
        conn.set_nonblocking(true)?;
        let conn_reg = reactor::Handle::current().register(conn.as_raw_fd())?;
        let mut buf = [0u8; 4];
        let n = poll_fn(|cx| conn_reg.poll_read_io(cx, || (&conn).read(&mut buf))).await?;
        poll_fn(|cx| conn_reg.poll_write_io(cx, || (&conn).write(&buf[..n]))).await?;
        io::Result::Ok(())
    }));
    if !matches!(served, Ok(Ok(()))) {
        return Ok(false);
    }
    let mut echo = [0u8; 4];
    client.read_exact(&mut echo)?;
    Ok(&echo == b"ping")
}

/// The child's side of the first test. Every check runs; the exit code has one bit
/// for each that failed.
fn child_of_an_idle_loop(parent_rt: Runtime) -> i32 {
    let mut failed = 0;
    if !panics_as_forked(|| parent_rt.block_on(yield_now())) {
        failed |= 1;
    }
    if !panics_as_forked(|| drop(parent_rt.spawn(async {}))) {
        failed |= 2;
    }
    if !panics_as_forked(|| drop(parent_rt.spawn_blocking(|| ()))) {
        failed |= 4;
    }
    // Dropping it here must neither panic nor deregister the parent's fds (the parent
    // checks that).
    if catch_unwind(AssertUnwindSafe(move || drop(parent_rt))).is_err() {
        failed |= 8;
    }
    match a_fresh_runtime_serves_sockets() {
        Ok(true) => {}
        Ok(false) | Err(_) => failed |= 16,
    }
    failed
}

#[test]
fn a_child_cannot_use_its_parents_runtime_and_builds_its_own() {
    let _watchdog = common::watchdog();
    let rt = Runtime::new().unwrap();
    let (ours, mut peer) = UnixStream::pair().unwrap();
    let reader = rt.spawn(read_byte(ours));
    rt.block_on(async {
        yield_now().await;
        yield_now().await;
    });
    assert!(!reader.is_finished(), "the task waits for its byte");
    let pid = fork();
    if pid == 0 {
        exit_child(child_of_an_idle_loop(rt));
    }
    let failed = wait_for(pid);
    // Written once the child is gone: the parent's registration must still be there.
    peer.write_all(&[42]).unwrap();
    let byte = rt.block_on(timeout(PATIENCE, reader));
    assert_eq!(
        failed, 0,
        "the child's checks failed: {failed:#07b} (bits: block_on, spawn, spawn_blocking, \
         drop, a fresh runtime); the parent's task got {byte:?}"
    );
    assert_eq!(
        byte.expect("the parent's task got its event")
            .unwrap()
            .unwrap(),
        42
    );
}

#[test]
fn a_loop_forked_by_its_own_task_panics_in_the_child_before_it_waits() {
    let _watchdog = common::watchdog();
    let parent = std::process::id();
    let rt = Runtime::new().unwrap();
    let (ours, mut peer) = UnixStream::pair().unwrap();
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        rt.block_on(async move {
            let reader = spawn(read_byte(ours));
            yield_now().await;
            yield_now().await;
            peer.write_all(&[7]).unwrap();
            let pid = fork();
            if pid == 0 {
                // The child, inside its parent's loop: going back to the loop must panic.
                yield_now().await;
                exit_child(20);
            }
            let code = wait_for(pid);
            assert_eq!(
                code, 0,
                "the child ran its parent's loop (exit code {code})"
            );
            let byte = timeout(PATIENCE, reader).await;
            assert_eq!(
                byte.expect("the parent's task got its event")
                    .unwrap()
                    .unwrap(),
                7
            );
        })
    }));
    if std::process::id() != parent {
        // The child, after its `block_on` unwound: the panic must be the fork's.
        let forked = match &outcome {
            Err(payload) => payload
                .downcast_ref::<String>()
                .is_some_and(|m| m.contains("a forked child cannot use it")),
            Ok(()) => false,
        };
        exit_child(if forked { 0 } else { 21 });
    }
    if let Err(payload) = outcome {
        std::panic::resume_unwind(payload);
    }
}
