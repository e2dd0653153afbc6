//! The halves of a `TcpStream`: borrowed (`split`) and owned (`into_split`).

use std::error::Error;
use std::fmt;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::rc::Rc;

use crate::io::{AsSource, impl_async_read, impl_async_write, impl_stream_methods};
use crate::source::Source;
use crate::tcp::TcpStream;

/// The read half of [`TcpStream::split`].
#[derive(Debug)]
pub struct ReadHalf<'a>(pub(crate) &'a TcpStream);

/// The write half of [`TcpStream::split`]. Closing it (`poll_close`) shuts down the
/// stream's write side.
#[derive(Debug)]
pub struct WriteHalf<'a>(pub(crate) &'a TcpStream);

/// The read half of [`TcpStream::into_split`].
#[derive(Debug)]
pub struct OwnedReadHalf(pub(crate) Rc<TcpStream>);

/// The write half of [`TcpStream::into_split`]. Closing it (`poll_close`) shuts down
/// the stream's write side; dropping it does not.
#[derive(Debug)]
pub struct OwnedWriteHalf(pub(crate) Rc<TcpStream>);

impl AsSource for ReadHalf<'_> {
    fn source(&self) -> &Source {
        self.0.source()
    }
}

impl AsSource for WriteHalf<'_> {
    fn source(&self) -> &Source {
        self.0.source()
    }
}

impl AsSource for OwnedReadHalf {
    fn source(&self) -> &Source {
        self.0.source()
    }
}

impl AsSource for OwnedWriteHalf {
    fn source(&self) -> &Source {
        self.0.source()
    }
}

impl ReadHalf<'_> {
    impl_stream_methods!(read);

    /// Reads without consuming.
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.peek(buf).await
    }
}

impl WriteHalf<'_> {
    impl_stream_methods!(write);

    /// Shuts down the stream's write side: the peer reads end of stream.
    pub fn shutdown(&self) -> io::Result<()> {
        self.0.shutdown(Shutdown::Write)
    }
}

impl OwnedReadHalf {
    impl_stream_methods!(read);

    /// Reads without consuming.
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.peek(buf).await
    }

    /// The remote address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.0.peer_addr()
    }

    /// Joins the halves back into the stream; fails (returning both) if they come from
    /// different streams.
    pub fn reunite(self, other: OwnedWriteHalf) -> Result<TcpStream, ReuniteError> {
        if !Rc::ptr_eq(&self.0, &other.0) {
            return Err(ReuniteError(self, other));
        }
        drop(other);
        Rc::try_unwrap(self.0).map_err(|_| unreachable_reunite())
    }
}

/// Both halves were given and compared equal, so the `Rc` has exactly two owners and
/// one was just dropped; this is never reached.
#[cold]
fn unreachable_reunite() -> ReuniteError {
    panic!("a reunited TcpStream had a third owner")
}

impl OwnedWriteHalf {
    impl_stream_methods!(write);

    /// Shuts down the stream's write side: the peer reads end of stream.
    pub fn shutdown(&self) -> io::Result<()> {
        self.0.shutdown(Shutdown::Write)
    }

    /// The remote address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.0.peer_addr()
    }
}

impl_async_read!(<'a> for ReadHalf<'a>);
impl_async_write!(<'a> for WriteHalf<'a>);
impl_async_read!(for OwnedReadHalf);
impl_async_write!(for OwnedWriteHalf);

/// The halves given to [`OwnedReadHalf::reunite`] came from different streams.
pub struct ReuniteError(pub OwnedReadHalf, pub OwnedWriteHalf);

impl fmt::Debug for ReuniteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReuniteError(..)")
    }
}

impl fmt::Display for ReuniteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("tried to reunite halves of different streams")
    }
}

impl Error for ReuniteError {}
