//! `hyper_server` answers `hyper_client` (feature `hyper`).
#![cfg(feature = "hyper")]

mod common;

use std::process::Command;

use common::{Server, assert_fresh_date, example, exchange};

fn client(server: &Server, args: &[&str]) -> String {
    let out = Command::new(example("hyper_client"))
        .args(["--addr", &server.addr.to_string()])
        .args(args)
        .output()
        .expect("run hyper_client");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn hyper_server_answers_hyper_client() {
    let mut server = Server::start("hyper_server", &[]);
    assert_eq!(client(&server, &[]), "status: 200\nHello, world!\n");
    assert_eq!(
        client(&server, &["--path", "/json"]),
        "status: 200\n{\"message\":\"Hello, world!\"}\n"
    );
    assert_eq!(
        client(&server, &["--path", "/echo", "--post", "ping"]),
        "status: 200\nping\n"
    );
    assert_eq!(
        client(&server, &["--path", "/nope"]),
        "status: 404\nNot Found\n\n"
    );
    assert!(client(&server, &["--path", "/echo"]).starts_with("status: 405\n"));
    // The same routes to a raw client, pipelined.
    let raw = b"GET / HTTP/1.1\r\nHost: t\r\n\r\nGET /loop HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    let responses = exchange(server.addr, raw, 2);
    assert_eq!(responses.len(), 2);
    assert_eq!(responses[0].body, b"Hello, world!");
    assert_eq!(responses[1].body, b"0");
    for r in &responses {
        assert_fresh_date(r);
    }
    let raw = b"GET /delay?ms=2 HTTP/1.1\r\nHost: t\r\n\r\nGET /delay?ms=10001 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    let responses = exchange(server.addr, raw, 2);
    let got: Vec<(u16, &[u8])> = responses.iter().map(|r| (r.status, &r.body[..])).collect();
    assert_eq!(
        got,
        [
            (200, &b"delayed 2 ms"[..]),
            (
                400,
                &b"Bad Request: ms must be a whole number from 0 to 10000\n"[..]
            )
        ]
    );
    assert_eq!(server.stop_with(libc::SIGINT).code(), Some(0));
}
