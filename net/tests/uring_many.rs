//! 10,000 connections to an echo server on the io_uring backend: each its own multishot
//! receive, all sharing one buffer ring. The clients are this binary run again as a child
//! (so that each process holds 10,000 descriptors, not 20,000), which connects them all,
//! then echoes a distinct message on each, then closes them. Every echo must come back
//! intact, and the server must see every connection close.
//!
//! Skipped, with a line on stderr, where the kernel refuses io_uring or the descriptor
//! limit is too low.
#![cfg(target_os = "linux")]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::time::Duration;

use common::uring_refused;
use reactor::BackendKind;

const CONNS: usize = 10_000;
const CHILD_ENV: &str = "NET_URING_MANY_CHILD";
/// Only a hang reaches it.
const HANG_GUARD: Duration = Duration::from_secs(120);

/// Raises the soft descriptor limit to the hard one; returns it.
fn raise_fd_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid, writable rlimit; then a valid one with cur <= max.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        lim.rlim_cur = lim.rlim_max;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
    }
    lim.rlim_cur
}

/// The child: the clients.
#[test]
fn child_entry() {
    let Ok(addr) = std::env::var(CHILD_ENV) else {
        return; // an ordinary test run: nothing to do
    };
    raise_fd_limit();
    let mut conns: Vec<std::net::TcpStream> = (0..CONNS)
        .map(|i| {
            std::net::TcpStream::connect(&addr).unwrap_or_else(|e| panic!("connection {i}: {e}"))
        })
        .collect();
    println!("CONNECTED");
    for (i, c) in conns.iter_mut().enumerate() {
        c.set_read_timeout(Some(HANG_GUARD)).unwrap();
        let msg = format!("message {i:05}");
        c.write_all(msg.as_bytes()).unwrap();
        let mut back = vec![0u8; msg.len()];
        c.read_exact(&mut back).unwrap();
        assert_eq!(back, msg.as_bytes(), "connection {i}");
    }
    println!("ECHOED");
}

#[test]
fn ten_thousand_connections() {
    if uring_refused() {
        return;
    }
    let limit = raise_fd_limit();
    if limit < CONNS as u64 + 200 {
        eprintln!("skipped: RLIMIT_NOFILE hard limit {limit} is below {CONNS} + 200");
        return;
    }
    let rt = runtime::Builder::new()
        .backend(BackendKind::Uring)
        .build()
        .unwrap();
    assert_eq!(rt.backend_name(), "uring");
    rt.block_on(async {
        let listener = net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["child_entry", "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, addr.to_string())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let said = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .filter(|l| l.contains("CONNECTED") || l.contains("ECHOED"))
                .count()
        });
        let closed = Rc::new(std::cell::Cell::new(0usize));
        let served = runtime::time::timeout(HANG_GUARD, async {
            let mut tasks = Vec::with_capacity(CONNS);
            for _ in 0..CONNS {
                let (stream, _) = listener.accept().await.unwrap();
                let closed = closed.clone();
                tasks.push(runtime::spawn(async move {
                    let mut buf = [0u8; 64];
                    let mut total = 0;
                    loop {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                stream.write_all(&buf[..n]).await.unwrap();
                                total += n;
                            }
                        }
                    }
                    closed.set(closed.get() + 1);
                    total
                }));
            }
            let mut echoed = 0;
            for t in tasks {
                echoed += t.await.unwrap();
            }
            echoed
        })
        .await
        .expect("the server did not see every connection through");
        assert_eq!(closed.get(), CONNS);
        assert_eq!(served, CONNS * "message 00000".len());
        let status = child.wait().unwrap();
        assert!(status.success(), "the clients failed: {status}");
        assert_eq!(said.join().unwrap(), 2, "the clients connected and echoed");
    });
}
