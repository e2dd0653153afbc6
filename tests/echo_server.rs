//! The `echo_server` example under 1,000 concurrent connections with random resets and
//! half-closes: no panic, still serving afterwards, and no descriptor leaked.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::fd::AsRawFd;

use common::{HANG_GUARD, Server, raise_fd_limit, wait_until};

const CONNS: usize = 1000;

/// Makes `close` send a reset (`SO_LINGER` with a zero timeout).
fn linger_zero(stream: &TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket fd and a `linger` of the size passed.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&raw const linger).cast(),
            size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0);
}

fn round_trip(stream: &mut TcpStream, message: &[u8]) {
    stream.write_all(message).unwrap();
    let mut back = vec![0u8; message.len()];
    stream.read_exact(&mut back).unwrap();
    assert_eq!(back, message);
}

/// A small deterministic generator, so a failure can be replayed.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

#[test]
fn a_thousand_connections_with_resets_and_half_closes() {
    let limit = raise_fd_limit();
    assert!(
        limit > 2 * CONNS as u64 + 100,
        "RLIMIT_NOFILE hard limit {limit} is too low"
    );
    let server = Server::start("echo_server", &[]);
    // The baseline, checked again after one full exchange.
    let base = server.open_fds();
    let mut first = server.connect();
    round_trip(&mut first, b"warm up");
    drop(first);
    wait_until("the warm-up connection to close", HANG_GUARD, || {
        server.open_fds() == base
    });

    let mut conns: Vec<TcpStream> = (0..CONNS).map(|_| server.connect()).collect();
    wait_until("every connection accepted", HANG_GUARD, || {
        server.open_fds() >= base + CONNS
    });
    let mut rng = Lcg(0x5eed);
    let mut kinds = [0usize; 4];
    for (i, stream) in conns.drain(..).enumerate() {
        let mut stream = stream;
        let message = format!("message {i}");
        let kind = (rng.next() % 4) as usize;
        kinds[kind] += 1;
        match kind {
            // A normal exchange and close.
            0 => round_trip(&mut stream, message.as_bytes()),
            // A reset in the middle of an exchange.
            1 => {
                stream.write_all(message.as_bytes()).unwrap();
                linger_zero(&stream);
            }
            // A half-close: everything sent before it still comes back, then EOF.
            2 => {
                stream.write_all(message.as_bytes()).unwrap();
                stream.shutdown(Shutdown::Write).unwrap();
                let mut back = Vec::new();
                stream.read_to_end(&mut back).unwrap();
                assert_eq!(back, message.as_bytes());
            }
            // A reset of an idle connection.
            _ => linger_zero(&stream),
        }
    }
    assert!(kinds.iter().all(|&k| k > 100), "{kinds:?}");

    // Still serving.
    let mut after = server.connect();
    round_trip(&mut after, b"still there?");
    drop(after);
    wait_until(
        "the descriptors to return to the baseline",
        HANG_GUARD,
        || server.open_fds() == base,
    );
    let mut server = server;
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "the server died"
    );
    let status = server.stop_with(libc::SIGTERM);
    assert!(status.success(), "{status:?}");
    let stderr = server.stderr_lines();
    assert!(!stderr.iter().any(|l| l.contains("panicked")), "{stderr:?}");
}
