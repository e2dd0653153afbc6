//! The process's standard streams as async streams, in the shape of tokio's
//! `tokio::io::{stdin, stdout, stderr}`: [`stdin`], [`stdout`] and [`stderr`].
//!
//! A pipe or a socket goes through the reactor, and anything else (a tty, a regular
//! file) through the blocking pool with bounded buffering; no path ever sets
//! `O_NONBLOCK` on a file description that another process shares. See [`stdin`].

mod blocking;
pub(crate) mod pipe;
mod stdio;
pub(crate) mod sys;
pub(crate) mod traits;

pub use stdio::{Stderr, Stdin, Stdout, stderr, stdin, stdout};
