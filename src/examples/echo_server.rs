//! `echo_server`: writes back everything each connection sends.
//!
//! ```text
//! cargo run --release --example echo_server -- [--addr 127.0.0.1:7000] [--threads N] [--buf-size BYTES]
//! ```

use std::process::ExitCode;

use crate::cli::{CliError, Flags, ServerArgs, server_usage};
use crate::echo::echo;
use crate::server;

/// The default port.
pub const PORT: u16 = 7000;

/// The default buffer size of each connection.
pub const BUF_SIZE: usize = 16 * 1024;

/// The command line of `echo_server`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Args {
    /// Address and loops.
    pub server: ServerArgs,
    /// Each connection's buffer (`--buf-size`).
    pub buf_size: usize,
}

/// The usage text.
pub fn usage() -> String {
    format!(
        "usage: echo_server [OPTIONS]\n\n{}\n  --buf-size BYTES   each connection's buffer (default {BUF_SIZE})",
        server_usage(PORT)
    )
}

impl Args {
    /// Parses the arguments after the program name.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Args, CliError> {
        let flags = Flags::parse(args, &["addr", "threads", "buf-size"])?;
        Ok(Args {
            server: ServerArgs::from_flags(&flags, PORT)?,
            buf_size: flags.count("buf-size", BUF_SIZE)?,
        })
    }
}

/// Runs the server until `SIGINT` or `SIGTERM`.
pub fn run(args: Args) -> std::io::Result<()> {
    let buf_size = args.buf_size;
    server::run(&args.server, move |_index| {
        move |stream| async move {
            let _ = echo(stream, buf_size).await;
        }
    })
    .map(drop)
}

/// The example's `main`: parses `std::env::args`, runs, and gives the exit code.
pub fn main() -> ExitCode {
    match super::parse(Args::parse(std::env::args().skip(1)), &usage()) {
        Ok(args) => super::exit("echo_server", run(args)),
        Err(code) => code,
    }
}
