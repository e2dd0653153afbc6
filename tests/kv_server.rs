//! `kv_server` with the real `redis-cli` (Debian's `redis-tools`), keys that expire
//! with nobody reading them, and the shared command line: exit code 0 on `SIGINT` and
//! `SIGTERM`, 2 on bad arguments.

mod kv_common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use kv_common::{BACKENDS, HANG_GUARD, Kv, Reply, example};

/// `redis-cli -p PORT --no-raw ARGS...`: its output, trimmed.
fn redis_cli(kv: &Kv, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &kv.addr.port().to_string(),
            "--no-raw",
        ])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!("redis-cli did not run ({e}): install Debian's redis-tools (.ci/run does)")
        });
    let text = String::from_utf8_lossy(&out.stdout).trim_end().to_owned();
    assert!(
        out.stderr.is_empty(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

#[test]
fn redis_cli_runs_every_command() {
    let script: &[(&[&str], &str)] = &[
        (&["PING"], "PONG"),
        (&["PING", "hi there"], "\"hi there\""),
        (&["ECHO", "a\nb"], "\"a\\nb\""),
        (&["SET", "k", "v"], "OK"),
        (&["GET", "k"], "\"v\""),
        (&["GET", "nope"], "(nil)"),
        (&["SET", "k", "w", "NX"], "(nil)"),
        (&["SET", "k", "w", "XX", "GET"], "\"v\""),
        (&["SET", "t", "v", "EX", "100"], "OK"),
        (&["TTL", "t"], "(integer) 100"),
        (&["PTTL", "nope"], "(integer) -2"),
        (&["PEXPIRE", "k", "5000"], "(integer) 1"),
        (&["TTL", "k"], "(integer) 5"),
        (&["PERSIST", "k"], "(integer) 1"),
        (&["TTL", "k"], "(integer) -1"),
        (&["EXPIRE", "t", "10", "GT"], "(integer) 0"),
        (&["INCR", "n"], "(integer) 1"),
        (&["INCRBY", "n", "41"], "(integer) 42"),
        (&["DECR", "n"], "(integer) 41"),
        (
            &["INCR", "k"],
            "(error) ERR value is not an integer or out of range",
        ),
        (&["MSET", "a", "1", "b", "2"], "OK"),
        (&["MGET", "a", "nope", "b"], "1) \"1\"\n2) (nil)\n3) \"2\""),
        (&["EXISTS", "a", "b", "nope"], "(integer) 2"),
        (&["DEL", "a", "b", "nope"], "(integer) 2"),
        (&["DBSIZE"], "(integer) 3"),
        (&["CONFIG", "GET", "save"], "(empty array)"),
        (
            &["GET"],
            "(error) ERR wrong number of arguments for 'get' command",
        ),
        (
            &["FROB", "x"],
            // (the reply's trailing space is trimmed with the newline)
            "(error) ERR unknown command 'FROB', with args beginning with: 'x'",
        ),
        (
            &["SET", "k", "v", "EX", "0"],
            "(error) ERR invalid expire time in 'set' command",
        ),
        (&["SET", "k", "v", "NX", "XX"], "(error) ERR syntax error"),
        (&["FLUSHALL"], "OK"),
        (&["DBSIZE"], "(integer) 0"),
        (&["QUIT"], "OK"),
    ];
    for backend in BACKENDS {
        let kv = Kv::start(backend);
        for (args, want) in script {
            assert_eq!(redis_cli(&kv, args), *want, "{backend}: {args:?}");
        }
        // Pipe mode: raw protocol from stdin, as `redis-cli --pipe` sends a bulk load.
        let input: String = (0..500).map(|i| format!("SET bulk:{i} {i}\r\n")).collect();
        let mut child = Command::new("redis-cli")
            .args(["-p", &kv.addr.port().to_string(), "--pipe"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("redis-cli --pipe");
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), input.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("errors: 0, replies: 500"),
            "{backend}: {text}"
        );
        assert_eq!(redis_cli(&kv, &["GET", "bulk:499"]), "\"499\"");
    }
}

#[test]
fn keys_expire_lazily_and_actively() {
    for backend in BACKENDS {
        let kv = Kv::start(backend);
        let mut c = kv.client();
        assert_eq!(c.cmd("SET lazy v PX 1"), Reply::ok());
        thread::sleep(Duration::from_millis(5));
        assert_eq!(
            c.cmd("GET lazy"),
            Reply::Nil,
            "{backend}: read after its deadline"
        );
        for i in 0..500 {
            assert_eq!(c.cmd(&format!("SET gone:{i} v PX 20")), Reply::ok());
        }
        assert_eq!(c.cmd("SET stays v"), Reply::ok());
        // Nobody reads the 500 keys: the active expiry must remove them.
        let start = Instant::now();
        loop {
            if c.cmd("DBSIZE") == Reply::Int(1) {
                break;
            }
            assert!(
                start.elapsed() < HANG_GUARD,
                "{backend}: expired keys were never reclaimed"
            );
            thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(c.cmd("GET stays"), Reply::bulk(b"v"));
    }
}

#[test]
fn sigint_and_sigterm_exit_0() {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        let mut kv = Kv::start("epoll");
        let mut c = kv.client();
        assert_eq!(c.cmd("SET k v"), Reply::ok());
        // SAFETY: kill(2) on our own child, not yet reaped.
        assert_eq!(unsafe { libc::kill(kv.child.id() as i32, signal) }, 0);
        let start = Instant::now();
        let status = loop {
            if let Some(status) = kv.child.try_wait().unwrap() {
                break status;
            }
            assert!(start.elapsed() < HANG_GUARD, "kv_server did not exit");
            thread::sleep(Duration::from_millis(10));
        };
        assert_eq!(status.code(), Some(0), "signal {signal}");
    }
}

#[test]
fn a_signal_drains_the_connections_between_commands() {
    for backend in BACKENDS {
        let mut child = Command::new(example("kv_server"))
            .args(["--addr", "127.0.0.1:0", "--grace-ms", "20000"])
            .env("EVLOOP_BACKEND", backend)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap()
            .parse()
            .unwrap();
        let mut idle = kv_common::Client::connect(addr);
        assert_eq!(idle.cmd("SET k v"), Reply::ok());
        // A client whose replies are queued: it asks for 64 MiB and reads none yet.
        let mut slow = kv_common::Client::connect(addr);
        assert_eq!(
            slow.call(&[b"SET", b"big", &vec![b'x'; 1 << 20]]),
            Reply::ok()
        );
        slow.send(&b"GET big\r\n".repeat(64));
        // SAFETY: kill(2) on our own child, not yet reaped.
        assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
        assert!(
            idle.closed_cleanly(),
            "{backend}: the idle client was reset"
        );
        // The slow client still gets whole replies, then end of stream.
        let mut got = 0;
        while let Ok(reply) = slow.read() {
            assert_eq!(reply, Reply::Bulk(vec![b'x'; 1 << 20]), "{backend}");
            got += 1;
        }
        assert!((1..=64).contains(&got), "{backend}: {got} replies");
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{backend}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("loop 0 served 2 connections, drained 2, cancelled 0"),
            "{backend}: {stderr}"
        );
    }
}

#[test]
fn bad_arguments_get_usage_and_exit_code_2() {
    for args in [
        &["--bogus", "1"][..],
        &["--threads", "2"],
        &["--addr", "not an address"],
        &["stray"],
    ] {
        let out = Command::new(example("kv_server"))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("usage: kv_server"), "{stderr}");
    }
    let help = Command::new(example("kv_server"))
        .arg("--help")
        .output()
        .unwrap();
    assert_eq!(help.status.code(), Some(0));
    let usage = String::from_utf8_lossy(&help.stdout);
    assert!(usage.contains("127.0.0.1:6379"), "{usage}");
}
