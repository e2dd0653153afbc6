//! `echo_server`: writes back everything each connection sends.
//!
//! ```text
//! cargo run --release --example echo_server -- [--addr 127.0.0.1:7000] [--threads N]
//!     [--grace-ms MS] [--buf-size BYTES]
//! ```
//!
//! # Draining
//!
//! On `SIGINT` or `SIGTERM` the server drains (see [`crate::server`]). An echo connection
//! is *in flight* while it holds bytes it has read and not yet written back. Draining it
//! means:
//!
//! 1. it reads nothing more to echo: a connection waiting for input stops at once;
//! 2. what it has read is written back in full (however slowly the peer takes it, until
//!    `--grace-ms` runs out);
//! 3. it shuts down its write side, so the peer reads end of stream right after the last
//!    echoed byte;
//! 4. it drops whatever the peer still sends until the peer closes too, or for at most
//!    [`LINGER`], so that closing with unread bytes does not reset the connection and
//!    lose the echo on its way.
//!
//! So every byte the peer gets back is a prefix of what it sent, followed by end of
//! stream.

use std::io;
use std::pin::pin;
use std::process::ExitCode;
use std::time::Duration;

use futures_io::{AsyncRead, AsyncWrite};
use runtime::sync::CancellationToken;

use crate::cli::{CliError, Flags, GRACEFUL_SERVER_FLAGS, ServerArgs, graceful_server_usage};
use crate::io::{Either, close, race, read, write_all};
use crate::server;

/// The default port.
pub const PORT: u16 = 7000;

/// The default buffer size of each connection.
pub const BUF_SIZE: usize = 16 * 1024;

/// How long a drained connection drops what the peer still sends before it closes.
pub const LINGER: Duration = Duration::from_secs(1);

/// The command line of `echo_server`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Args {
    /// Address, loops and grace period.
    pub server: ServerArgs,
    /// Each connection's buffer (`--buf-size`).
    pub buf_size: usize,
}

/// The usage text.
pub fn usage() -> String {
    format!(
        "usage: echo_server [OPTIONS]\n\n{}\n  --buf-size BYTES   each connection's buffer (default {BUF_SIZE})",
        graceful_server_usage(PORT)
    )
}

impl Args {
    /// Parses the arguments after the program name.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Args, CliError> {
        let mut known = GRACEFUL_SERVER_FLAGS.to_vec();
        known.push("buf-size");
        let flags = Flags::parse(args, &known)?;
        Ok(Args {
            server: ServerArgs::from_flags(&flags, PORT)?,
            buf_size: flags.count("buf-size", BUF_SIZE)?,
        })
    }
}

/// How [`echo_until_drained`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EchoEnd {
    /// The peer closed its side, and everything was echoed.
    PeerClosed {
        /// Bytes echoed.
        echoed: u64,
    },
    /// The drain stopped the echo; everything read was echoed.
    Drained {
        /// Bytes echoed.
        echoed: u64,
    },
}

/// [`crate::echo::echo`] with the drain described in the [module](self): echoes until
/// the peer closes or `drain` is cancelled, then closes. `drain` is checked before each
/// read, so a peer that keeps sending cannot hold the connection open past it.
pub async fn echo_until_drained<S>(
    mut stream: S,
    buf_size: usize,
    drain: &CancellationToken,
) -> io::Result<EchoEnd>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; buf_size.max(1)];
    let mut echoed = 0u64;
    let mut drained = pin!(drain.cancelled());
    let end = loop {
        let n = match race(drained.as_mut(), read(&mut stream, &mut buf)).await {
            Either::Left(()) => break EchoEnd::Drained { echoed },
            Either::Right(Ok(0)) => break EchoEnd::PeerClosed { echoed },
            Either::Right(Ok(n)) => n,
            Either::Right(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
            Either::Right(Err(e)) => return Err(e),
        };
        write_all(&mut stream, &buf[..n]).await?;
        echoed += n as u64;
    };
    close(&mut stream).await?;
    if let EchoEnd::Drained { .. } = end {
        let discard = async {
            while let Ok(n) = read(&mut stream, &mut buf).await {
                if n == 0 {
                    break;
                }
            }
        };
        let _ = runtime::time::timeout(LINGER, discard).await;
    }
    Ok(end)
}

/// Runs the server until `SIGINT` or `SIGTERM`, then drains it.
pub fn run(args: Args) -> std::io::Result<()> {
    let buf_size = args.buf_size;
    server::serve(&args.server, move |_index| {
        move |stream, drain| async move {
            let _ = echo_until_drained(stream, buf_size, &drain).await;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::MockStream;

    fn run_echo(stream: &mut MockStream, drain: &CancellationToken) -> EchoEnd {
        let rt = runtime::Runtime::new().unwrap();
        rt.block_on(echo_until_drained(&mut *stream, 4, drain))
            .unwrap()
    }

    #[test]
    fn echoes_until_the_peer_closes() {
        let mut stream = MockStream::chunks(&[b"hello ", b"world"]);
        let end = run_echo(&mut stream, &CancellationToken::new());
        assert_eq!(end, EchoEnd::PeerClosed { echoed: 11 });
        assert_eq!(stream.written, b"hello world");
        assert!(stream.closed);
    }

    #[test]
    fn a_drained_connection_reads_nothing_more_and_closes() {
        let drain = CancellationToken::new();
        drain.cancel();
        let mut stream = MockStream::chunks(&[b"late"]);
        let end = run_echo(&mut stream, &drain);
        assert_eq!(end, EchoEnd::Drained { echoed: 0 });
        assert_eq!(
            stream.written, b"",
            "nothing read after the drain is echoed"
        );
        assert!(stream.closed);
        assert!(
            stream.input.is_empty(),
            "what came after was dropped while lingering"
        );
    }
}
