//! `echo_client`: a load generator for `echo_server`. Each of `--conns` connections sends
//! `--size` bytes, waits for them to come back, and repeats for `--duration`; then it
//! prints the messages per second and the p50 and p99 round-trip latency.
//!
//! ```text
//! cargo run --release --example echo_client -- [--addr 127.0.0.1:7000] [--conns 50] [--size 64] [--duration 5s]
//! ```

use std::io;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::cli::{CliError, Flags};
use crate::io::{Either, race, read, write_all};

/// The command line of `echo_client`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Args {
    /// The server (`--addr`, default `127.0.0.1:7000`).
    pub addr: SocketAddr,
    /// Concurrent connections (`--conns`, default 50).
    pub conns: usize,
    /// Bytes per message (`--size`, default 64).
    pub size: usize,
    /// How long to run (`--duration`, default 5 s).
    pub duration: Duration,
}

/// The usage text.
pub fn usage() -> String {
    "usage: echo_client [OPTIONS]

  --addr HOST:PORT   the echo server (default 127.0.0.1:7000)
  --conns N          concurrent connections (default 50)
  --size BYTES       bytes per message (default 64)
  --duration TIME    how long to run: 5s, 500ms or 5 (default 5s)
  --help             print this and exit"
        .to_owned()
}

impl Args {
    /// Parses the arguments after the program name.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Args, CliError> {
        let flags = Flags::parse(args, &["addr", "conns", "size", "duration"])?;
        Ok(Args {
            addr: flags.addr(super::echo_server::PORT)?,
            conns: flags.count("conns", 50)?,
            size: flags.count("size", 64)?,
            duration: flags.duration("duration", Duration::from_secs(5))?,
        })
    }
}

/// What a load run measured.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadReport {
    /// Round trips completed.
    pub messages: u64,
    /// How long the run took.
    pub elapsed: Duration,
    /// The median round trip.
    pub p50: Duration,
    /// The 99th percentile round trip.
    pub p99: Duration,
    /// Connections that failed (to connect, or during the run).
    pub failed: usize,
}

impl LoadReport {
    /// Round trips per second.
    pub fn rate(&self) -> f64 {
        self.messages as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Runs the load on the current loop: `args.conns` tasks, each one connection.
pub async fn load(args: Args) -> io::Result<LoadReport> {
    let start = Instant::now();
    let end = start + args.duration;
    let tasks: Vec<_> = (0..args.conns)
        .map(|_| runtime::spawn(connection(args.addr, args.size, end)))
        .collect();
    let mut latencies: Vec<u64> = Vec::new();
    let mut failed = 0;
    for task in tasks {
        match task.await {
            Ok(Ok(mine)) => latencies.extend(mine),
            Ok(Err(_)) | Err(_) => failed += 1,
        }
    }
    let elapsed = start.elapsed();
    if failed == args.conns {
        return Err(io::Error::other(format!(
            "every connection to {} failed",
            args.addr
        )));
    }
    latencies.sort_unstable();
    let at = |q: f64| {
        let i = ((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1));
        Duration::from_nanos(latencies.get(i).copied().unwrap_or(0))
    };
    Ok(LoadReport {
        messages: latencies.len() as u64,
        elapsed,
        p50: at(0.50),
        p99: at(0.99),
        failed,
    })
}

/// One connection's round trips until `end`, in nanoseconds each.
async fn connection(addr: SocketAddr, size: usize, end: Instant) -> io::Result<Vec<u64>> {
    let mut stream = net::TcpStream::connect(addr).await?;
    let _ = stream.set_nodelay(true);
    let message = vec![b'x'; size];
    let mut back = vec![0u8; size];
    let mut latencies = Vec::new();
    // A server that stops answering must not hang the client past its run.
    let guard = runtime::time::sleep_until(end + Duration::from_secs(5));
    let run = async {
        while Instant::now() < end {
            let sent = Instant::now();
            write_all(&mut stream, &message).await?;
            let mut got = 0;
            while got < size {
                match read(&mut stream, &mut back[got..]).await? {
                    0 => return Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
                    n => got += n,
                }
            }
            latencies.push(sent.elapsed().as_nanos() as u64);
        }
        Ok(())
    };
    match race(run, guard).await {
        Either::Left(result) => result?,
        Either::Right(()) => return Err(io::ErrorKind::TimedOut.into()),
    }
    Ok(latencies)
}

/// The example's `main`: parses `std::env::args`, runs, and gives the exit code.
pub fn main() -> ExitCode {
    let args = match super::parse(Args::parse(std::env::args().skip(1)), &usage()) {
        Ok(args) => args,
        Err(code) => return code,
    };
    let result = runtime::Runtime::new().and_then(|rt| rt.block_on(load(args)));
    match result {
        Ok(report) => {
            println!(
                "{} messages in {:.2?}: {:.0} messages/s, p50 {:.1?}, p99 {:.1?} ({} conns x {} bytes, {} failed)",
                report.messages,
                report.elapsed,
                report.rate(),
                report.p50,
                report.p99,
                args.conns,
                args.size,
                report.failed
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("echo_client: {e}");
            ExitCode::FAILURE
        }
    }
}
