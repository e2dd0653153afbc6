//! evloop's sockets: TCP, UDP and Unix sockets on the reactor.
//!
//! Every socket is created non-blocking and close-on-exec in one syscall
//! (`SOCK_NONBLOCK | SOCK_CLOEXEC`, and `accept4` for accepted connections; Apple's
//! systems lack these and get `fcntl` right after), and is
//! registered once with the current loop's reactor, edge-triggered for read and write
//! together. After that, each read or write is one syscall:
//!
//! - a read shorter than its buffer (or a short write) clears readiness on the
//!   edge-triggered backends, so the next call waits for the next edge instead of making
//!   a syscall that fails with `EAGAIN`;
//! - no `epoll_ctl` per operation;
//! - every syscall that moves data or accepts a connection spends one unit of the task's
//!   cooperative budget ([`reactor::budget`]); one that finds nothing to do
//!   (`WouldBlock`) gives it back. A busy connection cannot starve the others.
//!
//! A socket belongs to the runtime it was created in. If that runtime is dropped while
//! the socket lives on, every later operation on it fails at once with an error that
//! says so (it never waits forever); `into_std` and `from_std` move it to a live one.
//!
//! Writes use `MSG_NOSIGNAL` (`SO_NOSIGPIPE` on Apple's systems), so a peer that reset
//! the connection gives an error of kind `ConnectionReset` or `BrokenPipe`, never a
//! `SIGPIPE`. `connect` never blocks: it waits for writable and reads `SO_ERROR`; host
//! names are resolved on the runtime's blocking pool, and every address is tried in
//! turn.
//!
//! ```
//! # runtime::Runtime::new()?.block_on(async {
//! let listener = net::TcpListener::bind("127.0.0.1:0").await?;
//! let addr = listener.local_addr()?;
//! let server = runtime::spawn(async move {
//!     let (stream, _) = listener.accept().await?;
//!     let mut buf = [0; 64];
//!     loop {
//!         match stream.read(&mut buf).await? {
//!             0 => return Ok::<_, std::io::Error>(()),
//!             n => stream.write_all(&buf[..n]).await?,
//!         }
//!     }
//! });
//! let client = net::TcpStream::connect(addr).await?;
//! client.write_all(b"echo").await?;
//! let mut back = [0; 4];
//! client.read_exact(&mut back).await?;
//! assert_eq!(&back, b"echo");
//! drop(client);
//! server.await.expect("server task")?;
//! # Ok::<(), std::io::Error>(())
//! # }).unwrap();
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # One loop per thread
//!
//! The socket types are `!Send`: each is registered with the reactor of the loop that
//! created it. To move one to another loop, call its `into_std` (which deregisters it),
//! send the std socket, and call `from_std` on the other loop. To accept on every loop,
//! bind one listener per loop on the same port with [`TcpSocket::set_reuseport`].
//!
//! ```compile_fail
//! fn assert_send<T: Send>() {}
//! assert_send::<net::TcpListener>();
//! ```
//!
//! # Features
//!
//! - `tokio-io`: `tokio::io::AsyncRead`/`AsyncWrite` for the stream types.
//! - `hyper`: `hyper::rt::Read`/`Write` for the stream types; with the runtime's
//!   `runtime::hyper` executor and timer, hyper 1.x runs on evloop.
//! - `syscall-count`: `net::syscall_count()`, a per-thread count of the data syscalls, for
//!   measurements. Off by default: counting costs a thread-local access per syscall.

mod addr;
mod buf_stream;
mod counter;
mod io;
mod source;
mod sys;
mod tcp;
#[cfg(test)]
mod tests;
// The unit tests share `tests/common` with the integration tests, which name the crate.
#[cfg(test)]
extern crate self as net;
mod udp;
mod unix;

pub use addr::ToSocketAddrs;
pub use buf_stream::{BufStream, DEFAULT_READ_CAPACITY, DEFAULT_WRITE_HIGH, DEFAULT_WRITE_LOW};
pub use tcp::{
    OwnedReadHalf, OwnedWriteHalf, ReadHalf, ReuniteError, TcpListener, TcpSocket, TcpStream,
    WriteHalf,
};
pub use udp::UdpSocket;
pub use unix::{SocketAddr as UnixSocketAddr, UnixDatagram, UnixListener, UnixStream};

/// The listen backlog of `TcpListener::bind` and `UnixListener::bind` (the kernel caps
/// it at `somaxconn`).
pub(crate) const DEFAULT_BACKLOG: i32 = 1024;

/// How many data syscalls (read, write, send, receive, accept) this thread has made
/// through this crate: for measuring what an exchange costs. Only with the feature
/// `syscall-count`; without it nothing is counted.
#[cfg(feature = "syscall-count")]
pub fn syscall_count() -> u64 {
    counter::total()
}
