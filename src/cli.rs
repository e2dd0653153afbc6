//! The command line every example shares, hand-rolled: `--name value` or `--name=value`.
//!
//! Every server takes `--addr HOST:PORT` (default `127.0.0.1` and the example's port) and
//! `--threads N` (default 1; more means one loop per core, each with its own
//! `SO_REUSEPORT` listener). The servers that drain on shutdown ([`crate::server::serve`])
//! also take `--grace-ms MS` (default 5000): how long the connections in flight may take
//! to finish after the first `SIGINT` or `SIGTERM`. `--help` prints the usage and exits 0;
//! a bad argument prints the usage on stderr and exits 2.

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::str::FromStr;
use std::time::Duration;

/// The exit code of a bad command line.
pub const USAGE_EXIT: u8 = 2;

/// Why a command line was not accepted.
#[derive(Debug, PartialEq, Eq)]
pub enum CliError {
    /// `--help` or `-h` was given.
    Help,
    /// The arguments were wrong; the message says which and why.
    Bad(String),
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Help => f.write_str("help requested"),
            CliError::Bad(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for CliError {}

impl CliError {
    /// Prints `usage` (on stdout for `--help`, else on stderr after the error) and gives
    /// the exit code: 0 for `--help`, [`USAGE_EXIT`] otherwise.
    pub fn report(&self, usage: &str) -> ExitCode {
        match self {
            CliError::Help => {
                println!("{usage}");
                ExitCode::SUCCESS
            }
            CliError::Bad(msg) => {
                eprintln!("error: {msg}\n\n{usage}");
                ExitCode::from(USAGE_EXIT)
            }
        }
    }
}

/// The flags of one command line, each checked against the known names.
#[derive(Debug, Default)]
pub struct Flags {
    values: Vec<(String, String)>,
}

impl Flags {
    /// Parses `args` (without the program name). Every flag takes a value; a flag not in
    /// `known` (names without the leading `--`), a missing value, a repeated flag or a
    /// positional argument is an error.
    pub fn parse<I>(args: I, known: &[&str]) -> Result<Flags, CliError>
    where
        I: IntoIterator<Item = String>,
    {
        let mut flags = Flags::default();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            if arg == "--help" || arg == "-h" {
                return Err(CliError::Help);
            }
            let Some(flag) = arg.strip_prefix("--") else {
                return Err(CliError::Bad(format!("unexpected argument `{arg}`")));
            };
            let (name, value) = match flag.split_once('=') {
                Some((name, value)) => (name.to_owned(), value.to_owned()),
                None => {
                    let value = args
                        .next()
                        .ok_or_else(|| CliError::Bad(format!("`--{flag}` needs a value")))?;
                    (flag.to_owned(), value)
                }
            };
            if !known.contains(&name.as_str()) {
                return Err(CliError::Bad(format!("unknown option `--{name}`")));
            }
            if flags.raw(&name).is_some() {
                return Err(CliError::Bad(format!("`--{name}` given twice")));
            }
            flags.values.push((name, value));
        }
        Ok(flags)
    }

    /// The value given for `name`, as written.
    pub fn raw(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of `name` parsed as a `T`, or `default` when absent.
    pub fn get<T: FromStr>(&self, name: &str, default: T) -> Result<T, CliError>
    where
        T::Err: fmt::Display,
    {
        match self.raw(name) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|e| CliError::Bad(format!("`--{name} {v}`: {e}"))),
        }
    }

    /// A count that must be at least 1.
    pub fn count(&self, name: &str, default: usize) -> Result<usize, CliError> {
        match self.get(name, default)? {
            0 => Err(CliError::Bad(format!("`--{name}` must be at least 1"))),
            n => Ok(n),
        }
    }

    /// A number of milliseconds, as a `Duration`.
    pub fn millis(&self, name: &str, default: Duration) -> Result<Duration, CliError> {
        match self.raw(name) {
            None => Ok(default),
            Some(_) => self.get::<u64>(name, 0).map(Duration::from_millis),
        }
    }

    /// A duration written `5s`, `250ms` or `5` (seconds).
    pub fn duration(&self, name: &str, default: Duration) -> Result<Duration, CliError> {
        let Some(v) = self.raw(name) else {
            return Ok(default);
        };
        let bad = || CliError::Bad(format!("`--{name} {v}`: expected e.g. 5s, 250ms or 5"));
        let (digits, unit) = match v.strip_suffix("ms") {
            Some(ms) => (ms, Duration::from_millis(1)),
            None => (v.strip_suffix('s').unwrap_or(v), Duration::from_secs(1)),
        };
        let n: u32 = digits.parse().map_err(|_| bad())?;
        Ok(unit * n)
    }

    /// `--addr HOST:PORT`, resolved to its first address; `127.0.0.1:default_port` when
    /// absent.
    pub fn addr(&self, default_port: u16) -> Result<SocketAddr, CliError> {
        let Some(v) = self.raw("addr") else {
            return Ok(SocketAddr::from(([127, 0, 0, 1], default_port)));
        };
        let bad = |why: String| CliError::Bad(format!("`--addr {v}`: {why}"));
        v.to_socket_addrs()
            .map_err(|e| bad(e.to_string()))?
            .next()
            .ok_or_else(|| bad("no address".to_owned()))
    }
}

/// The options every server example takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerArgs {
    /// Where to listen (`--addr`).
    pub addr: SocketAddr,
    /// How many loops, one per core (`--threads`).
    pub threads: usize,
    /// How long a draining server lets its connections finish (`--grace-ms`, default
    /// [`DEFAULT_GRACE`]); see [`crate::server::serve`].
    pub grace: Duration,
}

/// The default of `--grace-ms`.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(5);

/// The names [`ServerArgs::from_flags`] reads for a server that does not drain
/// ([`crate::server::run`]), for [`Flags::parse`].
pub const SERVER_FLAGS: [&str; 2] = ["addr", "threads"];

/// The names [`ServerArgs::from_flags`] reads for a server that drains on shutdown
/// ([`crate::server::serve`]): [`SERVER_FLAGS`] and `grace-ms`.
pub const GRACEFUL_SERVER_FLAGS: [&str; 3] = ["addr", "threads", "grace-ms"];

/// The usage lines of [`SERVER_FLAGS`], for a server whose default port is `port`.
pub fn server_usage(port: u16) -> String {
    format!(
        "  --addr HOST:PORT   where to listen (default 127.0.0.1:{port})
  --threads N        loops, one per core, each with its own SO_REUSEPORT listener (default 1)
  --help             print this and exit"
    )
}

/// The usage lines of [`GRACEFUL_SERVER_FLAGS`], for a server whose default port is `port`.
pub fn graceful_server_usage(port: u16) -> String {
    format!(
        "{}
  --grace-ms MS      on SIGINT or SIGTERM, let connections in flight finish for this long,
                     then cancel them; a second signal cancels them at once (default {})",
        server_usage(port),
        DEFAULT_GRACE.as_millis()
    )
}

impl ServerArgs {
    /// Reads `--addr` (default `127.0.0.1:default_port`), `--threads` (default 1) and
    /// `--grace-ms` (default [`DEFAULT_GRACE`]; absent unless `flags` were parsed with
    /// [`GRACEFUL_SERVER_FLAGS`]).
    pub fn from_flags(flags: &Flags, default_port: u16) -> Result<ServerArgs, CliError> {
        Ok(ServerArgs {
            addr: flags.addr(default_port)?,
            threads: flags.count("threads", 1)?,
            grace: flags.millis("grace-ms", DEFAULT_GRACE)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(args: &[&str], known: &[&str]) -> Result<Flags, CliError> {
        Flags::parse(args.iter().map(|s| s.to_string()), known)
    }

    #[test]
    fn parses_both_forms() {
        let f = flags(&["--addr", "127.0.0.1:0", "--threads=2"], &SERVER_FLAGS).unwrap();
        let args = ServerArgs::from_flags(&f, 80).unwrap();
        assert_eq!(args.addr, "127.0.0.1:0".parse().unwrap());
        assert_eq!(args.threads, 2);
        let f = flags(&[], &SERVER_FLAGS).unwrap();
        let args = ServerArgs::from_flags(&f, 8080).unwrap();
        assert_eq!(args.addr, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(args.threads, 1);
        assert_eq!(args.grace, DEFAULT_GRACE);
    }

    #[test]
    fn grace_is_in_milliseconds_and_only_where_known() {
        let f = flags(&["--grace-ms", "200"], &GRACEFUL_SERVER_FLAGS).unwrap();
        let args = ServerArgs::from_flags(&f, 80).unwrap();
        assert_eq!(args.grace, Duration::from_millis(200));
        let f = flags(&["--grace-ms=0"], &GRACEFUL_SERVER_FLAGS).unwrap();
        assert_eq!(
            ServerArgs::from_flags(&f, 80).unwrap().grace,
            Duration::ZERO
        );
        for bad in ["-1", "5s", "x", ""] {
            let f = flags(&["--grace-ms", bad], &GRACEFUL_SERVER_FLAGS).unwrap();
            assert!(ServerArgs::from_flags(&f, 80).is_err(), "{bad:?}");
        }
        assert!(matches!(
            flags(&["--grace-ms", "200"], &SERVER_FLAGS),
            Err(CliError::Bad(_))
        ));
        assert!(graceful_server_usage(80).contains("--grace-ms MS"));
    }

    #[test]
    fn rejects_bad_input() {
        for bad in [
            &["--nope", "1"][..],
            &["--addr"],
            &["positional"],
            &["--threads", "1", "--threads", "2"],
        ] {
            assert!(
                matches!(flags(bad, &SERVER_FLAGS), Err(CliError::Bad(_))),
                "{bad:?}"
            );
        }
        assert_eq!(
            flags(&["--help"], &SERVER_FLAGS).unwrap_err(),
            CliError::Help
        );
        for bad in [
            &["--threads", "0"][..],
            &["--threads", "x"],
            &["--addr", "nope"],
        ] {
            let f = flags(bad, &SERVER_FLAGS).unwrap();
            assert!(ServerArgs::from_flags(&f, 1).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn durations() {
        let f = flags(
            &["--a", "250ms", "--b", "3s", "--c", "2", "--d", "x"],
            &["a", "b", "c", "d"],
        );
        let f = f.unwrap();
        let zero = Duration::ZERO;
        assert_eq!(f.duration("a", zero).unwrap(), Duration::from_millis(250));
        assert_eq!(f.duration("b", zero).unwrap(), Duration::from_secs(3));
        assert_eq!(f.duration("c", zero).unwrap(), Duration::from_secs(2));
        assert!(f.duration("d", zero).is_err());
        assert_eq!(f.millis("a", zero).ok(), None);
    }
}
