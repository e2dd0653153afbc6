//! The smaller examples: `timers` prints its sleep, timeout and ticks; `echo_client`
//! measures `echo_server`; `chat` relays a line from one member to the others.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::Command;

use common::{HANG_GUARD, Server, example, wait_until};

#[test]
fn timers_sleeps_times_out_and_ticks() {
    let out = Command::new(example("timers"))
        .output()
        .expect("run timers");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("slept for"), "{text}");
    assert!(text.contains("timed out after"), "{text}");
    assert_eq!(text.matches("tick ").count(), 3, "{text}");
}

#[test]
fn echo_client_measures_echo_server() {
    let mut server = Server::start("echo_server", &[]);
    let out = Command::new(example("echo_client"))
        .args(["--addr", &server.addr.to_string()])
        .args(["--conns", "4", "--size", "128", "--duration", "300ms"])
        .output()
        .expect("run echo_client");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("messages/s") && text.contains("p99"),
        "{text}"
    );
    assert!(text.contains(", 0 failed)"), "{text}");
    assert_eq!(server.stop_with(libc::SIGTERM).code(), Some(0));
}

#[test]
fn chat_relays_lines_to_the_other_members() {
    let server = Server::start("chat", &[]);
    let base = server.open_fds();
    let mut alice = server.connect();
    let bob = server.connect();
    let carol = server.connect();
    // Accepted means joined: each member's task is spawned as it is accepted, and runs
    // before the loop next reads from a socket.
    wait_until("all three accepted", HANG_GUARD, || {
        server.open_fds() >= base + 3
    });
    alice.write_all(b"hello room\r\n").unwrap();
    for member in [bob, carol] {
        let mut line = String::new();
        BufReader::new(member).read_line(&mut line).unwrap();
        assert!(line.ends_with(": hello room\n"), "{line:?}");
    }
}
