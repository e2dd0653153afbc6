use std::time::{Duration, Instant};

use super::*;
use crate::kv::resp::{Parsed, Parser};

/// A store and a clock the tests move by hand.
struct Session {
    store: Store,
    epoch: Instant,
    ms: u64,
}

impl Session {
    fn new() -> Session {
        let epoch = Instant::now();
        Session {
            store: Store::with_epoch(epoch),
            epoch,
            ms: 0,
        }
    }

    /// Runs one command given as its arguments; returns its reply and flow.
    fn call(&mut self, args: &[&[u8]]) -> (String, Flow) {
        let mut wire = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            wire.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            wire.extend_from_slice(a);
            wire.extend_from_slice(b"\r\n");
        }
        let mut parser = Parser::new();
        assert_eq!(parser.parse(&wire), Ok(Parsed::Command(wire.len())));
        let mut out = Vec::new();
        let mut now = Now::at(self.epoch + Duration::from_millis(self.ms));
        let flow = execute(&mut self.store, parser.args(&wire), &mut now, &mut out);
        (String::from_utf8_lossy(&out).into_owned(), flow)
    }

    /// Runs `line` split on spaces; returns the reply.
    fn run(&mut self, line: &str) -> String {
        let args: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
        self.call(&args).0
    }

    /// Checks each `(command, reply)` in turn.
    fn expect(&mut self, script: &[(&str, &str)]) {
        for (line, want) in script {
            assert_eq!(self.run(line), *want, "{line}");
        }
    }
}

#[test]
fn strings_and_counters() {
    let mut s = Session::new();
    s.expect(&[
        ("PING", "+PONG\r\n"),
        ("ping hello", "$5\r\nhello\r\n"),
        ("ECHO hi", "$2\r\nhi\r\n"),
        ("GET k", "$-1\r\n"),
        ("SET k v", "+OK\r\n"),
        ("get k", "$1\r\nv\r\n"),
        ("SET k w NX", "$-1\r\n"),
        ("SET k w XX", "+OK\r\n"),
        ("SET n 1 XX", "$-1\r\n"),
        ("SET k x GET", "$1\r\nw\r\n"),
        ("SET new x NX GET", "$-1\r\n"),
        ("GET new", "$1\r\nx\r\n"),
        ("INCR c", ":1\r\n"),
        ("INCRBY c 41", ":42\r\n"),
        ("DECR c", ":41\r\n"),
        ("INCRBY c -50", ":-9\r\n"),
        ("GET c", "$2\r\n-9\r\n"),
        ("INCR k", "-ERR value is not an integer or out of range\r\n"),
        (
            "INCRBY c x",
            "-ERR value is not an integer or out of range\r\n",
        ),
        ("SET big 9223372036854775807", "+OK\r\n"),
        ("INCR big", "-ERR increment or decrement would overflow\r\n"),
        ("SET lead 01", "+OK\r\n"),
        (
            "INCR lead",
            "-ERR value is not an integer or out of range\r\n",
        ),
        ("MSET a 1 b 2", "+OK\r\n"),
        ("MGET a missing b", "*3\r\n$1\r\n1\r\n$-1\r\n$1\r\n2\r\n"),
        ("EXISTS a a missing b", ":3\r\n"),
        ("DEL a missing b", ":2\r\n"),
        ("DBSIZE", ":5\r\n"),
        ("FLUSHALL", "+OK\r\n"),
        ("DBSIZE", ":0\r\n"),
        ("FLUSHALL ASYNC", "+OK\r\n"),
        ("FLUSHALL now", "-ERR syntax error\r\n"),
        ("CONFIG GET save", "*0\r\n"),
        ("config get appendonly maxmemory", "*0\r\n"),
    ]);
}

#[test]
fn expiry_commands() {
    let mut s = Session::new();
    s.expect(&[
        ("SET k v EX 10", "+OK\r\n"),
        ("TTL k", ":10\r\n"),
        ("PTTL k", ":10000\r\n"),
        ("SET p v", "+OK\r\n"),
        ("TTL p", ":-1\r\n"),
        ("TTL missing", ":-2\r\n"),
        ("PEXPIRE p 1500", ":1\r\n"),
        ("TTL p", ":2\r\n"),
        ("PERSIST p", ":1\r\n"),
        ("PERSIST p", ":0\r\n"),
        ("EXPIRE missing 5", ":0\r\n"),
        ("EXPIRE k 100 NX", ":0\r\n"),
        ("EXPIRE p 100 XX", ":0\r\n"),
        ("EXPIRE k 5 GT", ":0\r\n"),
        ("EXPIRE k 50 GT", ":1\r\n"),
        ("EXPIRE k 60 LT", ":0\r\n"),
        ("EXPIRE p 60 LT", ":1\r\n"),
        (
            "EXPIRE p 60 NX XX",
            "-ERR NX and XX, GT or LT options at the same time are not compatible\r\n",
        ),
        (
            "EXPIRE p 60 GT LT",
            "-ERR GT and LT options at the same time are not compatible\r\n",
        ),
        ("EXPIRE p 60 SOON", "-ERR Unsupported option SOON\r\n"),
        (
            "EXPIRE p soon",
            "-ERR value is not an integer or out of range\r\n",
        ),
        (
            "EXPIRE p 9223372036854775807",
            "-ERR invalid expire time in 'expire' command\r\n",
        ),
        ("SET k v KEEPTTL", "+OK\r\n"),
        ("TTL k", ":50\r\n"),
        ("SET k v PX 250", "+OK\r\n"),
        ("PTTL k", ":250\r\n"),
        (
            "SET k v EX 0",
            "-ERR invalid expire time in 'set' command\r\n",
        ),
        (
            "SET k v EX -1",
            "-ERR invalid expire time in 'set' command\r\n",
        ),
        (
            "SET k v EX x",
            "-ERR value is not an integer or out of range\r\n",
        ),
        (
            "SET k v EX 9223372036854775807",
            "-ERR invalid expire time in 'set' command\r\n",
        ),
        ("SET k v EX 1 PX 1", "-ERR syntax error\r\n"),
        ("SET k v EX 1 KEEPTTL", "-ERR syntax error\r\n"),
        ("SET k v NX XX", "-ERR syntax error\r\n"),
        ("SET k v EX", "-ERR syntax error\r\n"),
        ("SET k v PXAT 1", "+OK\r\n"),
        ("GET k", "$-1\r\n"),
        ("SET c 5 EX 100", "+OK\r\n"),
        ("INCR c", ":6\r\n"),
        ("TTL c", ":100\r\n"),
        ("PEXPIRE c -1", ":1\r\n"),
        ("EXISTS c", ":0\r\n"),
    ]);
    // The clock moves: `p` (60 s) lives on, `k` is gone.
    s.run("SET k v PX 100");
    s.ms += 100;
    assert_eq!(s.run("GET k"), "$1\r\nv\r\n", "not expired at its deadline");
    s.ms += 1;
    assert_eq!(s.run("GET k"), "$-1\r\n", "expired past it");
    assert_eq!(s.run("PTTL p"), ":59899\r\n");
}

#[test]
fn errors_are_worded_as_redis_words_them() {
    let mut s = Session::new();
    s.expect(&[
        (
            "FOO",
            "-ERR unknown command 'FOO', with args beginning with: \r\n",
        ),
        (
            "foo a b",
            "-ERR unknown command 'foo', with args beginning with: 'a' 'b' \r\n",
        ),
        (
            "GET",
            "-ERR wrong number of arguments for 'get' command\r\n",
        ),
        (
            "GET a b",
            "-ERR wrong number of arguments for 'get' command\r\n",
        ),
        (
            "SET k",
            "-ERR wrong number of arguments for 'set' command\r\n",
        ),
        (
            "MSET a 1 b",
            "-ERR wrong number of arguments for 'mset' command\r\n",
        ),
        (
            "PING a b",
            "-ERR wrong number of arguments for 'ping' command\r\n",
        ),
        (
            "CONFIG",
            "-ERR wrong number of arguments for 'config' command\r\n",
        ),
        (
            "CONFIG GET",
            "-ERR wrong number of arguments for 'config|get' command\r\n",
        ),
        (
            "CONFIG SET a b",
            "-ERR unknown subcommand 'SET'. Try CONFIG HELP.\r\n",
        ),
    ]);
    // A name or arguments with CR or LF stay on one line.
    let (reply, _) = s.call(&[b"bad\r\ncmd", b"x\ny"]);
    assert_eq!(
        reply,
        "-ERR unknown command 'bad  cmd', with args beginning with: 'x y' \r\n"
    );
    // Long arguments are cut at 128 bytes in all.
    let long = "x".repeat(300);
    let reply = s.run(&format!("nope {long} {long}"));
    let listed = reply
        .split_once("with args beginning with: ")
        .map(|(_, l)| l.trim_end())
        .unwrap();
    assert_eq!(listed, format!("'{}'", "x".repeat(128)));
}

#[test]
fn quit_closes_after_ok() {
    let mut s = Session::new();
    assert_eq!(s.call(&[b"QUIT"]), ("+OK\r\n".to_owned(), Flow::Close));
    assert_eq!(s.call(&[b"PING"]).1, Flow::Continue);
}

#[test]
fn binary_keys_and_values() {
    let mut s = Session::new();
    let key: &[u8] = b"k\r\n\0ey";
    let value: &[u8] = b"\r\n$3\r\n*1\0";
    assert_eq!(s.call(&[b"SET", key, value]).0, "+OK\r\n");
    let (reply, _) = s.call(&[b"GET", key]);
    let mut want = format!("${}\r\n", value.len()).into_bytes();
    want.extend_from_slice(value);
    want.extend_from_slice(b"\r\n");
    assert_eq!(reply.as_bytes(), &want[..]);
}

#[test]
fn every_command_is_in_the_table_once() {
    let mut all: Vec<&str> = names().collect();
    let n = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), n);
    for needed in [
        "ping", "echo", "get", "set", "del", "exists", "incr", "decr", "incrby", "mget", "mset",
        "expire", "pexpire", "ttl", "pttl", "persist", "dbsize", "flushall", "quit", "config",
    ] {
        assert!(all.contains(&needed), "{needed}");
    }
}
