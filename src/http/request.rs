//! Parsing a request head with `httparse` into what the connection needs to answer it.

use std::mem::MaybeUninit;

use super::status::Status;
use super::{Config, MAX_HEADERS};

/// The request methods the routes know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// `GET`.
    Get,
    /// `HEAD`: the `GET` answer without its body.
    Head,
    /// `POST`.
    Post,
    /// Any other method (answered `405` on a known route).
    Other,
}

/// The resources the server has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// `/`: `Hello, world!`.
    Hello,
    /// `/json`: `{"message":"Hello, world!"}`.
    Json,
    /// `/echo`: the request body back (`POST`).
    Echo,
    /// `/loop`: the loop index of the server's `Stats`.
    Loop,
    /// `/delay?ms=N`: the delay in milliseconds, or `None` if `N` is missing, malformed
    /// or above [`MAX_DELAY_MS`].
    Delay(Option<u32>),
    /// Any other path: `404`.
    NotFound,
}

/// The longest delay `GET /delay?ms=N` takes.
pub const MAX_DELAY_MS: u32 = 10_000;

/// A parsed, checked request head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    /// The method.
    pub method: Method,
    /// The resource the target names.
    pub route: Route,
    /// The `1` of HTTP/1.1 (0 or 1).
    pub minor: u8,
    /// Whether the connection stays open after the answer.
    pub keep_alive: bool,
    /// The body's length (`Content-Length`, 0 without one).
    pub body_len: u64,
    /// `Expect: 100-continue` was sent.
    pub expects_continue: bool,
}

/// What [`parse`] made of the buffered bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A complete head of this many bytes.
    Complete(Head, usize),
    /// The head is not complete yet.
    Partial,
    /// The request is refused with this status; the connection closes after it.
    Refused(Status),
}

/// Parses the head at the start of `buf`, under the limits of `config`
/// ([`Config::max_headers`]; the caller enforces [`Config::max_header_bytes`] by the size
/// of its buffer: a head still [`Partial`](Parsed::Partial) with the buffer full is a
/// `431`).
pub fn parse(buf: &[u8], config: &Config) -> Parsed {
    let mut headers = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let max_headers = config.max_headers.clamp(1, MAX_HEADERS);
    let mut req = httparse::Request::new(&mut []);
    match req.parse_with_uninit_headers(buf, &mut headers[..max_headers]) {
        Ok(httparse::Status::Complete(len)) => match check(&req) {
            Ok(head) => Parsed::Complete(head, len),
            Err(status) => Parsed::Refused(status),
        },
        Ok(httparse::Status::Partial) => Parsed::Partial,
        Err(httparse::Error::TooManyHeaders) => Parsed::Refused(Status::HeadersTooLarge),
        Err(_) => Parsed::Refused(Status::BadRequest),
    }
}

fn check(req: &httparse::Request<'_, '_>) -> Result<Head, Status> {
    let (Some(method), Some(path), Some(minor)) = (req.method, req.path, req.version) else {
        return Err(Status::BadRequest);
    };
    let mut content_length: Option<u64> = None;
    let mut transfer_encoding = false;
    let mut hosts = 0usize;
    let mut close = false;
    let mut keep_alive = false;
    let mut expects_continue = false;
    for header in req.headers.iter() {
        let name = header.name;
        if name.eq_ignore_ascii_case("content-length") {
            let len = parse_length(header.value).ok_or(Status::BadRequest)?;
            if content_length.is_some_and(|earlier| earlier != len) {
                return Err(Status::BadRequest);
            }
            content_length = Some(len);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            transfer_encoding = true;
        } else if name.eq_ignore_ascii_case("host") {
            hosts += 1;
        } else if name.eq_ignore_ascii_case("connection") {
            for token in header.value.split(|&b| b == b',') {
                let token = token.trim_ascii();
                close |= token.eq_ignore_ascii_case(b"close");
                keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if name.eq_ignore_ascii_case("expect") {
            expects_continue |= header
                .value
                .trim_ascii()
                .eq_ignore_ascii_case(b"100-continue");
        }
    }
    if transfer_encoding {
        // Both framings at once is the request-smuggling shape: refuse it outright.
        return Err(if content_length.is_some() {
            Status::BadRequest
        } else {
            Status::NotImplemented
        });
    }
    if (minor == 1 && hosts != 1) || hosts > 1 {
        return Err(Status::BadRequest);
    }
    let keep_alive = !close && (minor == 1 || keep_alive);
    Ok(Head {
        method: method_of(method),
        route: route_of(path),
        minor,
        keep_alive,
        body_len: content_length.unwrap_or(0),
        expects_continue,
    })
}

/// A `Content-Length` value: one or more ASCII digits that fit in a `u64`, nothing else.
fn parse_length(value: &[u8]) -> Option<u64> {
    let value = value.trim_ascii();
    if value.is_empty() {
        return None;
    }
    value.iter().try_fold(0u64, |acc, &b| {
        let digit = b.checked_sub(b'0').filter(|d| *d <= 9)?;
        acc.checked_mul(10)?.checked_add(u64::from(digit))
    })
}

fn method_of(method: &str) -> Method {
    match method {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        _ => Method::Other,
    }
}

fn route_of(target: &str) -> Route {
    // A byte loop: targets are short, and `split_once` costs a call to a char searcher.
    let (path, query) = match target.bytes().position(|b| b == b'?') {
        Some(at) => (&target[..at], &target[at + 1..]),
        None => (target, ""),
    };
    match path {
        "/" => Route::Hello,
        "/json" => Route::Json,
        "/echo" => Route::Echo,
        "/loop" => Route::Loop,
        "/delay" => Route::Delay(delay_ms(query)),
        _ => Route::NotFound,
    }
}

/// The `ms` parameter of `/delay`: exactly one, of 1 to 5 ASCII digits, at most
/// [`MAX_DELAY_MS`]. Other parameters are ignored.
pub(crate) fn delay_ms(query: &str) -> Option<u32> {
    let mut values = query.split('&').filter_map(|pair| pair.strip_prefix("ms="));
    let value = values.next()?;
    if values.next().is_some() || value.is_empty() || value.len() > 5 {
        return None;
    }
    if !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok().filter(|ms| *ms <= MAX_DELAY_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(raw: &str) -> Parsed {
        parse(raw.as_bytes(), &Config::default())
    }

    fn complete(raw: &str) -> Head {
        match head(raw) {
            Parsed::Complete(head, len) => {
                assert_eq!(len, raw.len());
                head
            }
            other => panic!("{raw:?} gave {other:?}"),
        }
    }

    #[test]
    fn routes_and_methods() {
        let h = complete("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(
            (h.method, h.route, h.keep_alive),
            (Method::Get, Route::Hello, true)
        );
        let h = complete("POST /echo?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n");
        assert_eq!(
            (h.method, h.route, h.body_len),
            (Method::Post, Route::Echo, 5)
        );
        assert_eq!(
            complete("HEAD /json HTTP/1.1\r\nHost: a\r\n\r\n").route,
            Route::Json
        );
        assert_eq!(
            complete("PUT /nope HTTP/1.1\r\nHost: a\r\n\r\n").method,
            Method::Other
        );
        assert_eq!(
            complete("GET /nope HTTP/1.1\r\nHost: a\r\n\r\n").route,
            Route::NotFound
        );
    }

    #[test]
    fn delay_takes_one_bounded_number_of_milliseconds() {
        let route =
            |target: &str| complete(&format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n")).route;
        assert_eq!(route("/delay?ms=1500"), Route::Delay(Some(1500)));
        assert_eq!(route("/delay?ms=0"), Route::Delay(Some(0)));
        assert_eq!(route("/delay?x=1&ms=10000"), Route::Delay(Some(10_000)));
        for bad in [
            "/delay",
            "/delay?",
            "/delay?ms=",
            "/delay?ms=10001",
            "/delay?ms=99999999999999999999",
            "/delay?ms=-1",
            "/delay?ms=+5",
            "/delay?ms=1.5",
            "/delay?ms=12abc",
            "/delay?ms=1&ms=2",
            "/delay?MS=5",
        ] {
            assert_eq!(route(bad), Route::Delay(None), "{bad}");
        }
        assert_eq!(route("/delayed?ms=5"), Route::NotFound);
    }

    #[test]
    fn keep_alive_rules() {
        assert!(!complete("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").keep_alive);
        assert!(!complete("GET / HTTP/1.0\r\n\r\n").keep_alive);
        assert!(complete("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keep_alive);
        assert!(
            !complete("GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, close\r\n\r\n").keep_alive
        );
    }

    #[test]
    fn partial_heads_wait() {
        assert_eq!(head("GET / HTTP/1.1\r\nHost: a\r\n"), Parsed::Partial);
        assert_eq!(head("GE"), Parsed::Partial);
    }

    #[test]
    fn hostile_heads_are_refused() {
        let bad = Parsed::Refused(Status::BadRequest);
        assert_eq!(head("GET / HTTP/1.1\r\nBad Header\r\n\r\n"), bad);
        assert_eq!(head("\x00\x01\x02 / HTTP/1.1\r\n\r\n"), bad);
        assert_eq!(head("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), bad);
        assert_eq!(head("GET / HTTP/1.1\r\n\r\n"), bad, "no Host");
        assert_eq!(head("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), bad);
        for len in ["-1", "+1", "1 2", "", "0x10", "99999999999999999999999"] {
            let raw = format!("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: {len}\r\n\r\n");
            assert_eq!(head(&raw), bad, "Content-Length {len:?}");
        }
        let two =
            "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n";
        assert_eq!(head(two), bad);
        let both = "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(head(both), bad);
        let chunked = "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(head(chunked), Parsed::Refused(Status::NotImplemented));
    }

    #[test]
    fn too_many_headers_is_431() {
        let mut raw = String::from("GET / HTTP/1.1\r\nHost: a\r\n");
        for i in 0..100 {
            raw.push_str(&format!("X-{i}: y\r\n"));
        }
        raw.push_str("\r\n");
        assert_eq!(head(&raw), Parsed::Refused(Status::HeadersTooLarge));
    }

    #[test]
    fn duplicate_equal_lengths_are_accepted() {
        let raw =
            "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\ncontent-length: 3\r\n\r\n";
        assert_eq!(complete(raw).body_len, 3);
    }
}
