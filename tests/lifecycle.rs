//! Every example server: stops with exit code 0 on SIGINT and SIGTERM (with one loop and
//! with two), refuses bad arguments with exit code 2, and with `--threads 2` serves
//! connections on both loops.

mod common;

use std::collections::BTreeSet;
use std::process::{Command, Stdio};

use common::{Server, example, exchange};

fn servers() -> Vec<&'static str> {
    let mut all = vec!["echo_server", "http_server", "chat"];
    if cfg!(feature = "hyper") {
        all.push("hyper_server");
    }
    all
}

#[test]
fn sigint_and_sigterm_stop_every_server_with_exit_code_0() {
    for name in servers() {
        for threads in ["1", "2"] {
            for signal in [libc::SIGINT, libc::SIGTERM] {
                let mut server = Server::start(name, &["--threads", threads]);
                // A connection is open while the signal arrives.
                let _open = server.connect();
                let status = server.stop_with(signal);
                assert_eq!(
                    status.code(),
                    Some(0),
                    "{name} --threads {threads}, signal {signal}"
                );
                let loops = server
                    .stderr_lines()
                    .into_iter()
                    .filter(|l| l.starts_with("loop "))
                    .count();
                assert_eq!(
                    loops.to_string(),
                    threads,
                    "every loop stopped and reported"
                );
            }
        }
    }
}

#[test]
fn bad_arguments_get_usage_and_exit_code_2() {
    let mut examples = servers();
    examples.push("echo_client");
    if cfg!(feature = "hyper") {
        examples.push("hyper_client");
    }
    let bad: [&[&str]; 4] = [
        &["--bogus", "1"],
        &["--threads", "0"],
        &["--addr", "not an address"],
        &["stray"],
    ];
    for name in examples {
        for args in bad {
            let out = Command::new(example(name))
                .args(args)
                .stdin(Stdio::null())
                .output()
                .expect("run the example");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{name} {args:?}: {stderr}");
            assert!(stderr.contains("usage:"), "{name} {args:?}: {stderr}");
        }
        let help = Command::new(example(name)).arg("--help").output().unwrap();
        assert_eq!(help.status.code(), Some(0), "{name} --help");
        assert!(String::from_utf8_lossy(&help.stdout).contains("usage:"));
    }
}

#[test]
fn two_threads_serve_on_both_loops() {
    let mut server = Server::start("http_server", &["--threads", "2"]);
    let mut seen = BTreeSet::new();
    for _ in 0..500 {
        // A new connection (new source port) each time: the kernel picks the listener
        // by hashing the 4-tuple.
        let r = exchange(
            server.addr,
            b"GET /loop HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
            1,
        );
        let index = String::from_utf8_lossy(&r[0].body).into_owned();
        seen.insert(index);
        if seen.len() == 2 {
            break;
        }
    }
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), ["0", "1"]);
    assert_eq!(server.stop_with(libc::SIGTERM).code(), Some(0));
    let counts: Vec<u64> = server
        .stderr_lines()
        .iter()
        .filter_map(|l| {
            l.strip_prefix("loop ")?
                .split_whitespace()
                .nth(2)?
                .parse()
                .ok()
        })
        .collect();
    assert_eq!(counts.len(), 2, "one report per loop");
    assert!(counts.iter().all(|&n| n > 0), "{counts:?}");
}

#[test]
fn an_address_in_use_is_exit_code_1() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    for threads in ["1", "2"] {
        let out = Command::new(example("http_server"))
            .args(["--addr", &addr, "--threads", threads])
            .stdin(Stdio::null())
            .output()
            .expect("run http_server");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "--threads {threads}: {stderr}");
        assert!(stderr.contains("could not"), "{stderr}");
        assert!(out.stdout.is_empty(), "no listening line");
    }
}
