//! RESP2 and inline commands, through the server's own entry points: the resumable
//! [`Parser`] at the front of a growing buffer, and [`execute`] on a [`Store`], in the
//! loop the kv server runs (parse, execute, consume; read more on `Incomplete`).
//!
//! Input: one byte seeds how the bytes arrive (in reads of 1 to 64 bytes), the rest is
//! what the client sends. Checked:
//! - neither the parser nor a command panics, and a command's length is within the
//!   buffer and not zero;
//! - the commands, their arguments and the error found are the same whether the bytes
//!   arrive at once or read by read (the one-pass fast path and the resumable parser
//!   agree);
//! - a parse error ends the stream, as it ends the connection;
//! - every reply is one whole RESP2 value.

use evloop::kv::{Flow, Now, Parsed, Parser, ProtocolError, Store, execute};

/// What the parser found, in order.
#[derive(Debug, PartialEq, Eq)]
enum Event {
    Command(Vec<Vec<u8>>),
    Empty(usize),
    Error(ProtocolError),
}

/// The check (see the module docs).
pub fn check(data: &[u8]) {
    let Some((&seed, input)) = data.split_first() else {
        return;
    };
    let whole = run(input, |_| usize::MAX);
    let mut x = u32::from(seed) | 1;
    let chunked = run(input, move |_| {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        1 + (x % 64) as usize
    });
    assert_eq!(whole, chunked, "the stream parsed differently read by read");
}

/// Feeds `input` to a parser in reads of `next_read()` bytes, executing each command.
fn run(input: &[u8], mut next_read: impl FnMut(usize) -> usize) -> Vec<Event> {
    let mut events = Vec::new();
    let mut parser = Parser::new();
    let mut store = Store::new();
    let mut buf: Vec<u8> = Vec::new();
    let mut fed = 0;
    let mut out = Vec::new();
    loop {
        match parser.parse(&buf) {
            Ok(Parsed::Command(n)) => {
                assert!(
                    n > 0 && n <= buf.len(),
                    "a command of {n} bytes in {}",
                    buf.len()
                );
                let args = parser.args(&buf);
                assert!(!args.is_empty());
                events.push(Event::Command(args.iter().map(<[u8]>::to_vec).collect()));
                out.clear();
                let mut now = Now::lazy();
                let flow = execute(&mut store, args, &mut now, &mut out);
                check_reply(&out);
                if flow == Flow::Close {
                    return events;
                }
                buf.drain(..n);
            }
            Ok(Parsed::Empty(n)) => {
                assert!(n > 0 && n <= buf.len());
                events.push(Event::Empty(n));
                buf.drain(..n);
            }
            Ok(Parsed::Incomplete) => {
                if fed == input.len() {
                    return events;
                }
                let n = next_read(fed).min(input.len() - fed);
                buf.extend_from_slice(&input[fed..fed + n]);
                fed += n;
            }
            Err(e) => {
                events.push(Event::Error(e));
                return events;
            }
        }
    }
}

/// Asserts that `out` is exactly one RESP2 value (a QUIT or an error may close after it).
fn check_reply(out: &[u8]) {
    let end = value(out, 0)
        .unwrap_or_else(|| panic!("malformed reply {:?}", String::from_utf8_lossy(out)));
    assert_eq!(
        end,
        out.len(),
        "more than one reply: {:?}",
        String::from_utf8_lossy(out)
    );
}

/// The end of the RESP2 value starting at `at`.
fn value(out: &[u8], at: usize) -> Option<usize> {
    let kind = *out.get(at)?;
    let cr = at + out[at..].windows(2).position(|w| w == b"\r\n")?;
    // Simple strings and errors may hold any byte but CR and LF (an unknown command's
    // name is echoed as sent); numbers are ASCII.
    let line = &out[at + 1..cr];
    let number = || std::str::from_utf8(line).ok()?.parse::<i64>().ok();
    let next = cr + 2;
    match kind {
        b'+' | b'-' => (!line.contains(&b'\r') && !line.contains(&b'\n')).then_some(next),
        b':' => number().map(|_| next),
        b'$' => match number()? {
            -1 => Some(next),
            n if n >= 0 => {
                let end = next + n as usize;
                (out.get(end..end + 2)? == b"\r\n").then_some(end + 2)
            }
            _ => None,
        },
        b'*' => match number()? {
            -1 => Some(next),
            n if n >= 0 => (0..n).try_fold(next, |at, _| value(out, at)),
            _ => None,
        },
        _ => None,
    }
}
