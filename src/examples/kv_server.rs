//! `kv_server`: a Redis-protocol key-value server on one loop (see [`crate::kv`]).
//!
//! ```text
//! cargo run --release --example kv_server -- [--addr 127.0.0.1:6379] [--grace-ms MS]
//! redis-cli -p 6379 SET greeting hello
//! redis-benchmark -t set,get -P 16 -q
//! ```
//!
//! All keys live on one loop, as in Redis, so the server takes no `--threads`.
//!
//! # Draining
//!
//! On `SIGINT` or `SIGTERM` the server drains (see [`crate::server`]). Commands run to
//! completion as soon as they are read, so a connection is *in flight* only while its
//! replies wait to be sent to a client that reads slowly. Draining a connection, between
//! two commands:
//!
//! 1. it reads no more commands: one waiting for its next command stops at once;
//! 2. the replies it owes are sent, for at most [`LINGER`](crate::kv::LINGER) (and within
//!    `--grace-ms`);
//! 3. it shuts down its write side, so the client reads end of stream after the last
//!    reply.

use std::cell::{Cell, RefCell};
use std::process::ExitCode;
use std::rc::Rc;

use runtime::sync::CancellationToken;

use crate::cli::{CliError, DEFAULT_GRACE, Flags, ServerArgs};
use crate::kv::{EXPIRE_PERIOD, ExpirePolicy, Store, active_expiry, serve_connection};
use crate::server;

/// The default port (Redis's).
pub const PORT: u16 = 6379;

/// The usage text.
pub fn usage() -> String {
    format!(
        "usage: kv_server [OPTIONS]

  --addr HOST:PORT   where to listen (default 127.0.0.1:{PORT})
  --grace-ms MS      on SIGINT or SIGTERM, let connections send the replies they owe for
                     this long, then cancel them; a second signal cancels them at once
                     (default {})
  --help             print this and exit",
        DEFAULT_GRACE.as_millis()
    )
}

/// Parses the arguments after the program name.
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<ServerArgs, CliError> {
    ServerArgs::from_flags(&Flags::parse(args, &["addr", "grace-ms"])?, PORT)
}

/// Runs the server until `SIGINT` or `SIGTERM`, then drains it. The active expiry
/// starts with the first connection (no key can exist before one).
pub fn run(args: ServerArgs) -> std::io::Result<()> {
    server::serve(&args, |_index| {
        let store = Rc::new(RefCell::new(Store::new()));
        let expiring = Cell::new(false);
        move |stream, drain: CancellationToken| {
            if !expiring.replace(true) {
                let task = active_expiry(store.clone(), EXPIRE_PERIOD, ExpirePolicy::default());
                drop(runtime::spawn(task));
            }
            let store = store.clone();
            async move {
                let _ = serve_connection(stream, &store, drain.cancelled()).await;
            }
        }
    })
    .map(drop)
}

/// The example's `main`: parses `std::env::args`, runs, and gives the exit code.
pub fn main() -> ExitCode {
    match super::parse(parse(std::env::args().skip(1)), &usage()) {
        Ok(args) => super::exit("kv_server", run(args)),
        Err(code) => code,
    }
}
