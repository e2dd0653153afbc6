//! Writing answers into the connection's output buffer, without allocating.

use super::date;
use super::request::{Head, MAX_DELAY_MS, Method, Route};
use super::status::Status;

// The literals that the constants below and the fixed answers are made of, once each.
macro_rules! text_type {
    () => {
        "text/plain; charset=utf-8"
    };
}
macro_rules! json_type {
    () => {
        "application/json"
    };
}
macro_rules! hello {
    () => {
        "Hello, world!"
    };
}
macro_rules! hello_json {
    () => {
        r#"{"message":"Hello, world!"}"#
    };
}

const TEXT: &[u8] = text_type!().as_bytes();
const JSON: &[u8] = json_type!().as_bytes();
const OCTETS: &[u8] = b"application/octet-stream";

/// The body of `GET /`.
pub(crate) const HELLO: &[u8] = hello!().as_bytes();
/// The body of `GET /json`.
pub(crate) const HELLO_JSON: &[u8] = hello_json!().as_bytes();

/// What follows the `Date` field in the keep-alive HTTP/1.1 answers to `GET /` and
/// `GET /json`, the server's common answers, written in one piece (the answer to
/// `HEAD` stops before the body). `write_head` would write the same bytes in eight
/// pieces; a test holds the two to each other.
const HELLO_TAIL: &[u8] = concat!(
    "Content-Type: ",
    text_type!(),
    "\r\nContent-Length: 13\r\n\r\n",
    hello!()
)
.as_bytes();
const HELLO_JSON_TAIL: &[u8] = concat!(
    "Content-Type: ",
    json_type!(),
    "\r\nContent-Length: 27\r\n\r\n",
    hello_json!()
)
.as_bytes();
const _: () = assert!(HELLO.len() == 13 && HELLO_JSON.len() == 27);

/// Appends a fixed `200` answer: the status line, `date`, and `tail` (without its last
/// `body_len` bytes, the body, unless `with_body`).
#[inline]
fn fixed_ok(out: &mut Vec<u8>, date: &date::Field, tail: &[u8], body_len: usize, with_body: bool) {
    let tail = if with_body {
        tail
    } else {
        &tail[..tail.len() - body_len]
    };
    let line = Status::Ok.line();
    out.reserve(line.len() + date.len() + tail.len());
    out.extend_from_slice(line);
    out.extend_from_slice(date);
    out.extend_from_slice(tail);
}
/// The body of the `400` answer to a `/delay` without a valid `ms`.
pub(crate) const BAD_DELAY: &[u8] = b"Bad Request: ms must be a whole number from 0 to 10000\n";
const _: () = assert!(MAX_DELAY_MS == 10_000, "BAD_DELAY states the bound");

/// How the connection goes on after an answer, as said in its `Connection` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Persist {
    /// HTTP/1.1 keep-alive: no header needed.
    Default,
    /// HTTP/1.0 keep-alive: `Connection: keep-alive`.
    KeepAlive,
    /// `Connection: close`.
    Close,
}

impl Persist {
    /// How the connection goes on after an answer to `head`, which keeps it alive only
    /// if `keep_alive` (the head's own wish, unless the server is draining).
    pub(crate) fn of(head: &Head, keep_alive: bool) -> Persist {
        match (keep_alive, head.minor) {
            (false, _) => Persist::Close,
            (true, 0) => Persist::KeepAlive,
            (true, _) => Persist::Default,
        }
    }
}

/// Appends the answer to `head` to `out` (saying `Connection: close` unless
/// `keep_alive`), except for the body of `POST /echo`, which the
/// caller copies after it (its length is `head.body_len`). `date` is the `Date` field;
/// a `/delay` answer is written once the caller has waited. `loop_index` is what
/// `GET /loop` answers. Returns the status answered.
pub fn answer(
    out: &mut Vec<u8>,
    head: &Head,
    keep_alive: bool,
    loop_index: usize,
    date: &date::Field,
) -> Status {
    let persist = Persist::of(head, keep_alive);
    let get = matches!(head.method, Method::Get | Method::Head);
    let with_body = head.method != Method::Head;
    let mut digits = [0u8; 20];
    let (status, content_type, body): (Status, &[u8], &[u8]) = match (head.route, head.method) {
        (Route::Hello, _) if get && persist == Persist::Default => {
            fixed_ok(out, date, HELLO_TAIL, HELLO.len(), with_body);
            return Status::Ok;
        }
        (Route::Json, _) if get && persist == Persist::Default => {
            fixed_ok(out, date, HELLO_JSON_TAIL, HELLO_JSON.len(), with_body);
            return Status::Ok;
        }
        (Route::Hello, _) if get => (Status::Ok, TEXT, HELLO),
        (Route::Json, _) if get => (Status::Ok, JSON, HELLO_JSON),
        (Route::Loop, _) if get => (Status::Ok, TEXT, format_u64(&mut digits, loop_index as u64)),
        (Route::Delay(Some(ms)), _) if get => {
            let mut delayed = [0u8; 32];
            let body = delay_body(&mut delayed, ms);
            write_head(
                out,
                Status::Ok,
                TEXT,
                body.len() as u64,
                persist,
                None,
                date,
            );
            if with_body {
                out.extend_from_slice(body);
            }
            return Status::Ok;
        }
        (Route::Delay(None), _) if get => (Status::BadRequest, TEXT, BAD_DELAY),
        (Route::Echo, Method::Post) => {
            write_head(out, Status::Ok, OCTETS, head.body_len, persist, None, date);
            return Status::Ok;
        }
        (Route::NotFound, _) => (Status::NotFound, TEXT, Status::NotFound.text()),
        // A known route with a method it does not take.
        (route, _) => {
            let text = Status::MethodNotAllowed.text();
            let allow: &[u8] = if route == Route::Echo {
                b"POST"
            } else {
                b"GET, HEAD"
            };
            write_head(
                out,
                Status::MethodNotAllowed,
                TEXT,
                text.len() as u64,
                persist,
                Some(allow),
                date,
            );
            out.extend_from_slice(text);
            return Status::MethodNotAllowed;
        }
    };
    write_head(
        out,
        status,
        content_type,
        body.len() as u64,
        persist,
        None,
        date,
    );
    if with_body {
        out.extend_from_slice(body);
    }
    status
}

/// Appends the answer refusing a request with `status`; it says `Connection: close`,
/// and the connection closes after it.
pub fn refuse(out: &mut Vec<u8>, status: Status, date: &date::Field) {
    let text = status.text();
    write_head(
        out,
        status,
        TEXT,
        text.len() as u64,
        Persist::Close,
        None,
        date,
    );
    out.extend_from_slice(text);
}

/// The body of `GET /delay?ms=N`: `delayed N ms`.
fn delay_body(buf: &mut [u8; 32], ms: u32) -> &[u8] {
    let mut digits = [0u8; 20];
    let digits = format_u64(&mut digits, u64::from(ms));
    let parts: [&[u8]; 3] = [b"delayed ", digits, b" ms"];
    let mut len = 0;
    for part in parts {
        buf[len..len + part.len()].copy_from_slice(part);
        len += part.len();
    }
    &buf[..len]
}

/// The interim answer to `Expect: 100-continue`.
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

fn write_head(
    out: &mut Vec<u8>,
    status: Status,
    content_type: &[u8],
    content_length: u64,
    persist: Persist,
    allow: Option<&[u8]>,
    date: &date::Field,
) {
    out.extend_from_slice(status.line());
    out.extend_from_slice(date);
    out.extend_from_slice(b"Content-Type: ");
    out.extend_from_slice(content_type);
    out.extend_from_slice(b"\r\nContent-Length: ");
    let mut digits = [0u8; 20];
    out.extend_from_slice(format_u64(&mut digits, content_length));
    if let Some(allow) = allow {
        out.extend_from_slice(b"\r\nAllow: ");
        out.extend_from_slice(allow);
    }
    match persist {
        Persist::Default => {}
        Persist::KeepAlive => out.extend_from_slice(b"\r\nConnection: keep-alive"),
        Persist::Close => out.extend_from_slice(b"\r\nConnection: close"),
    }
    out.extend_from_slice(b"\r\n\r\n");
}

/// Writes `n` in decimal at the end of `digits` and returns those bytes.
fn format_u64(digits: &mut [u8; 20], mut n: u64) -> &[u8] {
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &digits[at..];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(route: Route, method: Method, minor: u8, keep_alive: bool) -> Head {
        Head {
            method,
            route,
            minor,
            keep_alive,
            body_len: 0,
            expects_continue: false,
        }
    }

    const DATE: &date::Field = b"Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n";

    fn text(h: &Head) -> String {
        let mut out = Vec::new();
        answer(&mut out, h, h.keep_alive, 3, DATE);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn formats_numbers() {
        let mut d = [0; 20];
        assert_eq!(format_u64(&mut d, 0), b"0");
        assert_eq!(format_u64(&mut d, 1234567), b"1234567");
        assert_eq!(
            format_u64(&mut d, u64::MAX),
            u64::MAX.to_string().as_bytes()
        );
    }

    #[test]
    fn answers() {
        let hello = text(&head(Route::Hello, Method::Get, 1, true));
        assert_eq!(
            hello,
            "HTTP/1.1 200 OK\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 13\r\n\r\nHello, world!"
        );
        let head_only = text(&head(Route::Json, Method::Head, 1, true));
        assert!(
            head_only.ends_with("Content-Length: 27\r\n\r\n"),
            "{head_only}"
        );
        let old = text(&head(Route::Loop, Method::Get, 0, true));
        assert!(old.ends_with("Connection: keep-alive\r\n\r\n3"), "{old}");
        let close = text(&head(Route::NotFound, Method::Get, 1, false));
        assert!(close.starts_with("HTTP/1.1 404 "), "{close}");
        assert!(close.contains("Connection: close\r\n"), "{close}");
        let not_allowed = text(&head(Route::Echo, Method::Get, 1, true));
        assert!(not_allowed.contains("405") && not_allowed.contains("Allow: POST\r\n"));
        let not_allowed = text(&head(Route::Hello, Method::Post, 1, true));
        assert!(not_allowed.contains("Allow: GET, HEAD\r\n"));
        let delayed = text(&head(Route::Delay(Some(1500)), Method::Get, 1, true));
        assert!(delayed.starts_with("HTTP/1.1 200 OK\r\n"), "{delayed}");
        assert!(delayed.ends_with("Content-Length: 15\r\n\r\ndelayed 1500 ms"));
        let bad = text(&head(Route::Delay(None), Method::Get, 1, true));
        assert!(bad.starts_with("HTTP/1.1 400 "), "{bad}");
        assert!(bad.ends_with("from 0 to 10000\n"), "{bad}");
        let not_allowed = text(&head(Route::Delay(Some(5)), Method::Post, 1, true));
        assert!(not_allowed.contains("Allow: GET, HEAD\r\n"));
    }

    #[test]
    fn the_fixed_answers_are_what_write_head_writes() {
        for (route, content_type, body) in
            [(Route::Hello, TEXT, HELLO), (Route::Json, JSON, HELLO_JSON)]
        {
            for method in [Method::Get, Method::Head] {
                let h = head(route, method, 1, true);
                let mut fast = Vec::new();
                answer(&mut fast, &h, true, 0, DATE);
                let mut slow = Vec::new();
                write_head(
                    &mut slow,
                    Status::Ok,
                    content_type,
                    body.len() as u64,
                    Persist::Default,
                    None,
                    DATE,
                );
                if method == Method::Get {
                    slow.extend_from_slice(body);
                }
                assert_eq!(
                    String::from_utf8_lossy(&fast),
                    String::from_utf8_lossy(&slow),
                    "{route:?} {method:?}"
                );
            }
        }
    }

    #[test]
    fn every_answer_has_a_date() {
        let mut out = Vec::new();
        refuse(&mut out, Status::RequestTimeout, DATE);
        let out = String::from_utf8(out).unwrap();
        assert!(
            out.contains("\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"),
            "{out}"
        );
        for route in [
            Route::Hello,
            Route::Json,
            Route::Loop,
            Route::NotFound,
            Route::Echo,
        ] {
            for method in [Method::Get, Method::Head, Method::Post, Method::Other] {
                let out = text(&head(route, method, 1, true));
                assert_eq!(out.matches("\r\nDate: ").count(), 1, "{out}");
            }
        }
    }
}
