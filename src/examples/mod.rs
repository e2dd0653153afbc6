//! The example programs, as library functions: each `examples/NAME.rs` is a thin `main`
//! over [`NAME::main`](http_server::main), so that the tests and the benchmarks can also
//! call them in-process.
//!
//! | example        | default address    |
//! |----------------|--------------------|
//! | `echo_server`  | `127.0.0.1:7000`   |
//! | `chat`         | `127.0.0.1:7001`   |
//! | `http_server`  | `127.0.0.1:8080`   |
//! | `hyper_server` | `127.0.0.1:8081`   |
//! | `kv_server`    | `127.0.0.1:6379`   |

pub mod chat;
pub mod echo_client;
pub mod echo_server;
pub mod http_server;
#[cfg(feature = "hyper")]
pub mod hyper_client;
#[cfg(feature = "hyper")]
pub mod hyper_server;
pub mod kv_server;

use std::io;
use std::process::ExitCode;

use crate::cli::CliError;

/// The exit of a server: 0 after a clean shutdown, 1 (with the error on stderr) if it
/// could not start.
pub(crate) fn exit(program: &str, result: io::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{program}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Parses a command line, or gives the exit code of its rejection.
pub(crate) fn parse<T>(parsed: Result<T, CliError>, usage: &str) -> Result<T, ExitCode> {
    parsed.map_err(|e| e.report(usage))
}
