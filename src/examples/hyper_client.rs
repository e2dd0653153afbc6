//! `hyper_client`: fetches one resource from `hyper_server` (or any HTTP/1.1 server) with
//! hyper 1.x's client on evloop, and prints the status and the body (feature `hyper`).
//!
//! ```text
//! cargo run --features hyper --example hyper_client -- [--addr 127.0.0.1:8081] [--path /] [--post DATA]
//! ```

use std::io::{self, Write};
use std::net::SocketAddr;
use std::process::ExitCode;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper::header::HOST;
use hyper::{Method, Request};

use crate::cli::{CliError, Flags};

/// The command line of `hyper_client`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Args {
    /// The server (`--addr`, default `127.0.0.1:8081`).
    pub addr: SocketAddr,
    /// The path to fetch (`--path`, default `/`).
    pub path: String,
    /// A body to `POST` instead of a `GET` (`--post`).
    pub post: Option<String>,
}

/// The usage text.
pub fn usage() -> String {
    "usage: hyper_client [OPTIONS]

  --addr HOST:PORT   the server (default 127.0.0.1:8081)
  --path PATH        what to fetch (default /)
  --post DATA        POST this body instead of a GET
  --help             print this and exit"
        .to_owned()
}

impl Args {
    /// Parses the arguments after the program name.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Args, CliError> {
        let flags = Flags::parse(args, &["addr", "path", "post"])?;
        let path = flags.raw("path").unwrap_or("/").to_owned();
        if !path.starts_with('/') {
            return Err(CliError::Bad(format!("`--path {path}` must start with /")));
        }
        Ok(Args {
            addr: flags.addr(super::hyper_server::PORT)?,
            path,
            post: flags.raw("post").map(str::to_owned),
        })
    }
}

/// Fetches `args.path` from `args.addr`: the status code and the body.
pub async fn fetch(args: &Args) -> io::Result<(u16, Bytes)> {
    let stream = net::TcpStream::connect(args.addr).await?;
    let (mut sender, conn) = http1::handshake(stream).await.map_err(io::Error::other)?;
    let conn = runtime::spawn(conn);
    let (method, body) = match &args.post {
        Some(data) => (Method::POST, Bytes::from(data.clone())),
        None => (Method::GET, Bytes::new()),
    };
    let request = Request::builder()
        .method(method)
        .uri(args.path.as_str())
        .header(HOST, args.addr.to_string())
        .body(Full::new(body))
        .map_err(io::Error::other)?;
    let response = sender
        .send_request(request)
        .await
        .map_err(io::Error::other)?;
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(io::Error::other)?
        .to_bytes();
    drop(sender);
    let _ = conn.await;
    Ok((status, body))
}

/// The example's `main`: parses `std::env::args`, fetches, prints `status: CODE` and the
/// body, and gives the exit code.
pub fn main() -> ExitCode {
    let args = match super::parse(Args::parse(std::env::args().skip(1)), &usage()) {
        Ok(args) => args,
        Err(code) => return code,
    };
    let result = runtime::Runtime::new().and_then(|rt| rt.block_on(fetch(&args)));
    match result {
        Ok((status, body)) => {
            let mut out = io::stdout().lock();
            let _ = writeln!(out, "status: {status}");
            let _ = out.write_all(&body);
            let _ = writeln!(out);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("hyper_client: {e}");
            ExitCode::FAILURE
        }
    }
}
