//! evloop: examples, integration tests and benchmarks for the evloop crates.
//!
//! The application code of the examples lives here, so that the benchmarks can run the
//! same servers on evloop and on tokio:
//!
//! - [`echo`]: an echo loop over any `futures_io` stream;
//! - [`http`]: a hardened HTTP/1.1 server over any `futures_io` stream and timer;
//! - [`kv`]: a Redis-protocol key-value server (store, parser, commands, connection);
//! - [`io`]: the small async helpers they share;
//! - [`cli`]: the command line every example shares;
//! - [`server`]: listeners, one loop per core, the accept loop and shutdown on signals;
//! - [`examples`]: each example program, as a library function.

pub mod cli;
pub mod echo;
pub mod examples;
pub mod http;
pub mod io;
pub mod kv;
pub mod server;

#[cfg(test)]
mod testing;

/// The README's example, compiled as a doctest so that it stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
