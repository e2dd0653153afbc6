//! The statuses of the server's answers: their status lines and error bodies.

/// The statuses the server answers with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// `200 OK`.
    Ok,
    /// `400 Bad Request`: a malformed head or `Content-Length`, no `Host`.
    BadRequest,
    /// `404 Not Found`.
    NotFound,
    /// `405 Method Not Allowed`, with `Allow`.
    MethodNotAllowed,
    /// `408 Request Timeout`: the head did not arrive in time.
    RequestTimeout,
    /// `413 Content Too Large`: the body is over [`Config::max_body_bytes`](super::Config::max_body_bytes).
    PayloadTooLarge,
    /// `431 Request Header Fields Too Large`.
    HeadersTooLarge,
    /// `501 Not Implemented`: `Transfer-Encoding`.
    NotImplemented,
}

impl Status {
    /// The status line, CRLF included.
    pub(super) fn line(self) -> &'static [u8] {
        match self {
            Status::Ok => b"HTTP/1.1 200 OK\r\n",
            Status::BadRequest => b"HTTP/1.1 400 Bad Request\r\n",
            Status::NotFound => b"HTTP/1.1 404 Not Found\r\n",
            Status::MethodNotAllowed => b"HTTP/1.1 405 Method Not Allowed\r\n",
            Status::RequestTimeout => b"HTTP/1.1 408 Request Timeout\r\n",
            Status::PayloadTooLarge => b"HTTP/1.1 413 Content Too Large\r\n",
            Status::HeadersTooLarge => b"HTTP/1.1 431 Request Header Fields Too Large\r\n",
            Status::NotImplemented => b"HTTP/1.1 501 Not Implemented\r\n",
        }
    }

    /// The body of an error answer.
    pub(super) fn text(self) -> &'static [u8] {
        match self {
            Status::Ok => b"",
            Status::BadRequest => b"Bad Request\n",
            Status::NotFound => b"Not Found\n",
            Status::MethodNotAllowed => b"Method Not Allowed\n",
            Status::RequestTimeout => b"Request Timeout\n",
            Status::PayloadTooLarge => b"Content Too Large\n",
            Status::HeadersTooLarge => b"Request Header Fields Too Large\n",
            Status::NotImplemented => b"Not Implemented\n",
        }
    }
}
