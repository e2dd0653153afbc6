//! `http_server`: the HTTP/1.1 server of [`crate::http`] on every loop.
//!
//! ```text
//! cargo run --release --example http_server -- [--addr 127.0.0.1:8080] [--threads N]
//!     [--grace-ms MS] [--header-timeout-ms MS] [--idle-timeout-ms MS]
//!     [--body-timeout-ms MS] [--max-body-bytes BYTES]
//! curl -i http://127.0.0.1:8080/
//! ```
//!
//! `GET /loop` answers the index of the loop that serves the connection, and
//! `GET /delay?ms=N` answers after `N` milliseconds.
//!
//! On `SIGINT` or `SIGTERM` the server drains (see [`crate::server`]): it closes its
//! listeners and its idle keep-alive connections at once, answers the requests in flight
//! with `Connection: close`, and exits when they are done or `--grace-ms` has passed.

use std::process::ExitCode;
use std::rc::Rc;

use crate::cli::{CliError, Flags, GRACEFUL_SERVER_FLAGS, ServerArgs, graceful_server_usage};
use crate::http::{Config, RuntimeSleeper, Stats, serve_connection_graceful};
use crate::server;

/// The default port.
pub const PORT: u16 = 8080;

/// The command line of `http_server`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Args {
    /// Address and loops.
    pub server: ServerArgs,
    /// Limits and timeouts.
    pub config: Config,
}

/// The usage text.
pub fn usage() -> String {
    let d = Config::default();
    format!(
        "usage: http_server [OPTIONS]\n\n{}
  --header-timeout-ms MS    a request head must arrive within this (default {})
  --idle-timeout-ms MS      close a connection idle between requests (default {})
  --body-timeout-ms MS      a request body must arrive within this (default {})
  --max-body-bytes BYTES    larger request bodies get 413 (default {})",
        graceful_server_usage(PORT),
        d.header_timeout.as_millis(),
        d.idle_timeout.as_millis(),
        d.body_timeout.as_millis(),
        d.max_body_bytes,
    )
}

impl Args {
    /// Parses the arguments after the program name.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Args, CliError> {
        let mut known = GRACEFUL_SERVER_FLAGS.to_vec();
        known.extend([
            "header-timeout-ms",
            "idle-timeout-ms",
            "body-timeout-ms",
            "max-body-bytes",
        ]);
        let flags = Flags::parse(args, &known)?;
        let d = Config::default();
        Ok(Args {
            server: ServerArgs::from_flags(&flags, PORT)?,
            config: Config {
                header_timeout: flags.millis("header-timeout-ms", d.header_timeout)?,
                idle_timeout: flags.millis("idle-timeout-ms", d.idle_timeout)?,
                body_timeout: flags.millis("body-timeout-ms", d.body_timeout)?,
                max_body_bytes: flags.get("max-body-bytes", d.max_body_bytes)?,
                ..d
            },
        })
    }
}

/// Runs the server until `SIGINT` or `SIGTERM`, then drains it.
pub fn run(args: Args) -> std::io::Result<()> {
    let config = args.config;
    server::serve(&args.server, move |index| {
        let config = Rc::new(config.clone());
        let stats = Rc::new(Stats::new(index));
        move |stream, drain| {
            let (config, stats) = (config.clone(), stats.clone());
            async move {
                let _ = serve_connection_graceful(stream, &config, &RuntimeSleeper, &stats, &drain)
                    .await;
            }
        }
    })
    .map(drop)
}

/// The example's `main`: parses `std::env::args`, runs, and gives the exit code.
pub fn main() -> ExitCode {
    match super::parse(Args::parse(std::env::args().skip(1)), &usage()) {
        Ok(args) => super::exit("http_server", run(args)),
        Err(code) => code,
    }
}
