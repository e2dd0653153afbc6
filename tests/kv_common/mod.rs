//! Starting `kv_server` on a chosen backend, and a small RESP client.
#![allow(dead_code)]

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The hang guard of every read in these tests.
pub const HANG_GUARD: Duration = Duration::from_secs(30);

/// The backends the server is tested on.
pub const BACKENDS: [&str; 2] = ["epoll", "poll"];

/// A running `kv_server`, killed on drop.
#[derive(Debug)]
pub struct Kv {
    pub child: Child,
    pub addr: SocketAddr,
}

impl Kv {
    /// Starts `kv_server --addr 127.0.0.1:0` with `EVLOOP_BACKEND=backend`.
    pub fn start(backend: &str) -> Kv {
        let mut child = Command::new(example("kv_server"))
            .args(["--addr", "127.0.0.1:0"])
            .env("EVLOOP_BACKEND", backend)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start kv_server");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("piped stdout");
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the listening line");
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        Kv { child, addr }
    }

    /// A new client.
    pub fn client(&self) -> Client {
        Client::connect(self.addr)
    }
}

impl Drop for Kv {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The path of an example binary, built by `cargo test` next to the test binaries.
pub fn example(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps");
    let path = dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo test`",
        path.display()
    );
    path
}

/// A RESP2 reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Vec<u8>),
    Nil,
    Array(Vec<Reply>),
}

impl Reply {
    pub fn bulk(b: &[u8]) -> Reply {
        Reply::Bulk(b.to_vec())
    }

    pub fn ok() -> Reply {
        Reply::Simple("OK".into())
    }
}

/// RESP for one command.
pub fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// A blocking RESP client.
#[derive(Debug)]
pub struct Client {
    pub reader: BufReader<TcpStream>,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(HANG_GUARD)).unwrap();
        stream.set_write_timeout(Some(HANG_GUARD)).unwrap();
        stream.set_nodelay(true).unwrap();
        Client {
            reader: BufReader::new(stream),
        }
    }

    pub fn stream(&mut self) -> &mut TcpStream {
        self.reader.get_mut()
    }

    /// Sends raw bytes.
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream().write_all(bytes).expect("send");
    }

    /// Sends one command and reads its reply.
    pub fn call(&mut self, args: &[&[u8]]) -> Reply {
        self.send(&encode(args));
        self.read().expect("a reply")
    }

    /// `call` with arguments split on spaces.
    pub fn cmd(&mut self, line: &str) -> Reply {
        let args: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
        self.call(&args)
    }

    /// Reads one reply; `Err(UnexpectedEof)` if the server closed first.
    pub fn read(&mut self) -> io::Result<Reply> {
        let mut line = Vec::new();
        self.reader.read_until(b'\n', &mut line)?;
        if line.is_empty() {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        assert!(
            line.ends_with(b"\r\n"),
            "a reply line without CRLF: {line:?}"
        );
        let text = String::from_utf8_lossy(&line[1..line.len() - 2]).into_owned();
        let int = |t: &str| -> i64 { t.parse().unwrap_or_else(|_| panic!("bad length {t:?}")) };
        Ok(match line[0] {
            b'+' => Reply::Simple(text),
            b'-' => Reply::Error(text),
            b':' => Reply::Int(int(&text)),
            b'$' if text == "-1" => Reply::Nil,
            b'$' => {
                let mut data = vec![0u8; int(&text) as usize + 2];
                self.reader.read_exact(&mut data)?;
                assert_eq!(&data[data.len() - 2..], b"\r\n");
                data.truncate(data.len() - 2);
                Reply::Bulk(data)
            }
            b'*' => {
                let n = int(&text);
                let items = (0..n).map(|_| self.read()).collect::<io::Result<_>>()?;
                Reply::Array(items)
            }
            other => panic!("unexpected reply type {:?} in {line:?}", other as char),
        })
    }

    /// Reads until the server closes; true for a clean close (EOF), false for a reset.
    pub fn closed_cleanly(&mut self) -> bool {
        let mut rest = Vec::new();
        match self.reader.read_to_end(&mut rest) {
            Ok(_) => {
                assert!(rest.is_empty(), "unexpected bytes before EOF: {rest:?}");
                true
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => false,
            Err(e) => panic!("reading to EOF: {e}"),
        }
    }
}
