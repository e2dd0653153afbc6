//! `hyper_server`: the routes of `http_server`, served by hyper 1.x on evloop (feature
//! `hyper`): `net`'s streams implement `hyper::rt::{Read, Write}`, and `runtime::hyper`
//! gives hyper a timer for its header-read timeout.
//!
//! ```text
//! cargo run --release --features hyper --example hyper_server -- [--addr 127.0.0.1:8081] [--threads N] [--grace-ms MS]
//! cargo run --features hyper --example hyper_client -- --path /json
//! ```
//!
//! hyper writes the `Date` header itself (cached once per second, as `http_server` does).
//!
//! On `SIGINT` or `SIGTERM` the server drains (see [`crate::server`]) with hyper's own
//! [`graceful_shutdown`](hyper::server::conn::http1::Connection::graceful_shutdown): an
//! idle connection closes at once, and the request in flight is answered with
//! `connection: close`.

use std::convert::Infallible;
use std::pin::pin;
use std::process::ExitCode;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{ALLOW, CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use runtime::hyper::EvloopTimer;

use crate::cli::{CliError, Flags, GRACEFUL_SERVER_FLAGS, ServerArgs, graceful_server_usage};
use crate::http::{BAD_DELAY, delay_ms};
use crate::io::{Either, race};
use crate::server;

/// The default port.
pub const PORT: u16 = 8081;

/// The command line of `hyper_server`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Args {
    /// Address, loops and grace period.
    pub server: ServerArgs,
    /// hyper's header-read timeout (`--header-timeout-ms`, default 10 s).
    pub header_timeout: Duration,
    /// The largest `POST /echo` body (`--max-body-bytes`, default 1 MiB).
    pub max_body_bytes: usize,
}

/// The usage text.
pub fn usage() -> String {
    format!(
        "usage: hyper_server [OPTIONS]\n\n{}
  --header-timeout-ms MS    a request head must arrive within this (default 10000)
  --max-body-bytes BYTES    larger request bodies get 413 (default 1048576)",
        graceful_server_usage(PORT)
    )
}

impl Args {
    /// Parses the arguments after the program name.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Args, CliError> {
        let mut known = GRACEFUL_SERVER_FLAGS.to_vec();
        known.extend(["header-timeout-ms", "max-body-bytes"]);
        let flags = Flags::parse(args, &known)?;
        Ok(Args {
            server: ServerArgs::from_flags(&flags, PORT)?,
            header_timeout: flags.millis("header-timeout-ms", Duration::from_secs(10))?,
            max_body_bytes: flags.get("max-body-bytes", 1024 * 1024)?,
        })
    }
}

fn reply(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn not_allowed(allow: &'static str) -> Response<Full<Bytes>> {
    let mut response = reply(
        StatusCode::METHOD_NOT_ALLOWED,
        TEXT,
        Bytes::from_static(b"Method Not Allowed\n"),
    );
    response
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    response
}

const TEXT: &str = "text/plain; charset=utf-8";

/// Answers one request the way [`crate::http`] does.
pub async fn route(
    req: Request<Incoming>,
    loop_index: usize,
    max_body_bytes: usize,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let get = matches!(*req.method(), Method::GET | Method::HEAD);
    let response = match (req.uri().path(), get) {
        ("/", true) => reply(StatusCode::OK, TEXT, Bytes::from_static(b"Hello, world!")),
        ("/json", true) => reply(
            StatusCode::OK,
            "application/json",
            Bytes::from_static(br#"{"message":"Hello, world!"}"#),
        ),
        ("/loop", true) => reply(StatusCode::OK, TEXT, Bytes::from(loop_index.to_string())),
        ("/delay", true) => match delay_ms(req.uri().query().unwrap_or("")) {
            Some(ms) => {
                runtime::time::sleep(Duration::from_millis(u64::from(ms))).await;
                reply(
                    StatusCode::OK,
                    TEXT,
                    Bytes::from(format!("delayed {ms} ms")),
                )
            }
            None => reply(StatusCode::BAD_REQUEST, TEXT, Bytes::from_static(BAD_DELAY)),
        },
        ("/echo", _) if req.method() == Method::POST => {
            match Limited::new(req.into_body(), max_body_bytes)
                .collect()
                .await
            {
                Ok(body) => reply(StatusCode::OK, "application/octet-stream", body.to_bytes()),
                Err(_) => reply(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    TEXT,
                    Bytes::from_static(b"Content Too Large\n"),
                ),
            }
        }
        ("/" | "/json" | "/loop" | "/delay", false) => not_allowed("GET, HEAD"),
        ("/echo", _) => not_allowed("POST"),
        _ => reply(
            StatusCode::NOT_FOUND,
            TEXT,
            Bytes::from_static(b"Not Found\n"),
        ),
    };
    Ok(response)
}

/// Runs the server until `SIGINT` or `SIGTERM`, then drains it.
pub fn run(args: Args) -> std::io::Result<()> {
    server::serve(&args.server, move |index| {
        move |stream, drain: runtime::sync::CancellationToken| async move {
            let service = service_fn(move |req| route(req, index, args.max_body_bytes));
            let mut conn = pin!(
                http1::Builder::new()
                    .timer(EvloopTimer)
                    .header_read_timeout(args.header_timeout)
                    .serve_connection(stream, service)
            );
            if let Either::Right(()) = race(conn.as_mut(), drain.cancelled()).await {
                conn.as_mut().graceful_shutdown();
                let _ = conn.await;
            }
        }
    })
    .map(drop)
}

/// The example's `main`: parses `std::env::args`, runs, and gives the exit code.
pub fn main() -> ExitCode {
    match super::parse(Args::parse(std::env::args().skip(1)), &usage()) {
        Ok(args) => super::exit("hyper_server", run(args)),
        Err(code) => code,
    }
}
