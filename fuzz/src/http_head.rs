//! The HTTP/1.1 request head, as the server parses it
//! (`evloop::http::proto::parse`), against `httparse` as the reference.
//!
//! Input: one byte picks the header limit, the rest is the head. Checked:
//! - the parser never panics and never reads past its buffer;
//! - `Complete(head, len)` agrees with httparse on the length, the method, the version
//!   and the `Content-Length`, and only when the framing is one the server accepts
//!   (no `Transfer-Encoding`, one `Host` on HTTP/1.1);
//! - `Partial` only when httparse says partial, and no strict prefix of a complete head
//!   is itself complete; the same head followed by more bytes parses the same;
//! - a refusal has a cause: `431` is too many headers, `501` is `Transfer-Encoding`
//!   alone, `400` is a malformed head or framing.
//!
//! The server does not decode chunked bodies: `Transfer-Encoding` is refused with `501`
//! (or `400` with a `Content-Length` beside it), so that a chunked body can never be read
//! as the next request. That refusal is what this target checks of chunked framing.

use std::mem::MaybeUninit;

use evloop::http::proto::{MAX_DELAY_MS, Method, Parsed, Route, Status, parse};
use evloop::http::{Config, MAX_HEADERS};

/// The check (see the module docs).
pub fn check(data: &[u8]) {
    let Some((&limit, buf)) = data.split_first() else {
        return;
    };
    let config = Config {
        max_headers: usize::from(limit) % (MAX_HEADERS + 8),
        ..Config::default()
    };
    let max_headers = config.max_headers.clamp(1, MAX_HEADERS);
    let parsed = parse(buf, &config);
    let reference = Reference::parse(buf, max_headers);
    match (&parsed, &reference) {
        (Parsed::Complete(head, len), Reference::Complete(r)) => {
            assert_eq!(*len, r.len, "head length");
            assert!(*len <= buf.len());
            assert_eq!(head.method, method_of(&r.method));
            assert_eq!(head.minor, r.minor);
            assert_eq!(Some(head.body_len), r.content_length.or(Some(0)));
            assert!(
                !r.transfer_encoding,
                "a Transfer-Encoding head was accepted"
            );
            assert!(r.hosts <= 1 && (r.minor == 0 || r.hosts == 1), "Host count");
            if let Route::Delay(Some(ms)) = head.route {
                assert!(ms <= MAX_DELAY_MS);
            }
            if r.connection_close {
                assert!(!head.keep_alive, "Connection: close kept alive");
            }
            // The head alone, and the head with garbage after it, parse the same.
            assert_eq!(parse(&buf[..*len], &config), parsed);
            let mut longer = buf[..*len].to_vec();
            longer.extend_from_slice(b"\x00GET / HTTP/1.1\r\n");
            assert_eq!(parse(&longer, &config), parsed);
            // No strict prefix is complete.
            for cut in [len / 2, len.saturating_sub(1)] {
                if cut < *len {
                    assert!(
                        !matches!(parse(&buf[..cut], &config), Parsed::Complete(..)),
                        "a prefix of {cut} bytes of a {len}-byte head is complete"
                    );
                }
            }
        }
        (Parsed::Complete(..), other) => panic!("complete, but httparse says {other:?}"),
        (Parsed::Partial, Reference::Partial) => {}
        (Parsed::Partial, other) => panic!("partial, but httparse says {other:?}"),
        (Parsed::Refused(Status::HeadersTooLarge), Reference::TooManyHeaders) => {}
        (Parsed::Refused(Status::BadRequest), Reference::Invalid) => {}
        (Parsed::Refused(Status::NotImplemented), Reference::Complete(r)) => {
            assert!(r.transfer_encoding && r.content_length.is_none() && !r.bad_length);
        }
        (Parsed::Refused(Status::BadRequest), Reference::Complete(r)) => {
            let framing = r.transfer_encoding && (r.content_length.is_some() || r.bad_length);
            let hosts = r.hosts > 1 || (r.minor == 1 && r.hosts != 1);
            assert!(
                r.bad_length || framing || hosts,
                "400 for a well-formed head: {r:?}"
            );
        }
        (Parsed::Refused(status), other) => {
            panic!("refused with {status:?}, httparse says {other:?}")
        }
    }
}

fn method_of(method: &str) -> Method {
    match method {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        _ => Method::Other,
    }
}

/// What httparse, and a plain reading of the headers, make of a head.
#[derive(Debug)]
enum Reference {
    Complete(Fields),
    Partial,
    TooManyHeaders,
    Invalid,
}

#[derive(Debug)]
struct Fields {
    len: usize,
    method: String,
    minor: u8,
    /// The value every `Content-Length` agrees on.
    content_length: Option<u64>,
    /// A `Content-Length` that is not a number, or two that differ.
    bad_length: bool,
    transfer_encoding: bool,
    hosts: usize,
    connection_close: bool,
}

impl Reference {
    fn parse(buf: &[u8], max_headers: usize) -> Reference {
        let mut headers = vec![MaybeUninit::<httparse::Header<'_>>::uninit(); max_headers];
        let mut req = httparse::Request::new(&mut []);
        let len = match req.parse_with_uninit_headers(buf, &mut headers) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) => return Reference::Partial,
            Err(httparse::Error::TooManyHeaders) => return Reference::TooManyHeaders,
            Err(_) => return Reference::Invalid,
        };
        let (Some(method), Some(_), Some(minor)) = (req.method, req.path, req.version) else {
            return Reference::Invalid;
        };
        let mut fields = Fields {
            len,
            method: method.to_owned(),
            minor,
            content_length: None,
            bad_length: false,
            transfer_encoding: false,
            hosts: 0,
            connection_close: false,
        };
        for h in req.headers.iter() {
            let name = h.name.to_ascii_lowercase();
            let value = String::from_utf8_lossy(h.value);
            match name.as_str() {
                "content-length" => {
                    let v = value.trim_matches(|c: char| c.is_ascii_whitespace());
                    let n = (!v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                        .then(|| v.parse::<u64>().ok())
                        .flatten();
                    match (n, fields.content_length) {
                        (None, _) => fields.bad_length = true,
                        (Some(n), Some(before)) if n != before => fields.bad_length = true,
                        (Some(n), _) => fields.content_length = Some(n),
                    }
                }
                "transfer-encoding" => fields.transfer_encoding = true,
                "host" => fields.hosts += 1,
                "connection" => {
                    fields.connection_close |= value.split(',').any(|t| {
                        t.trim_matches(|c: char| c.is_ascii_whitespace())
                            .eq_ignore_ascii_case("close")
                    });
                }
                _ => {}
            }
        }
        Reference::Complete(fields)
    }
}
