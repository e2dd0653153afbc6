//! Small `async fn` helpers over `futures_io::{AsyncRead, AsyncWrite}`, so that the
//! application code needs no `futures-util`, and the same code runs on evloop's streams
//! and on tokio's (through tokio-util's compat adapters).
//!
//! [`race`] runs two futures until the first finishes, for example an operation and a
//! timer.

use std::future::{Future, poll_fn};
use std::io;
use std::pin::{Pin, pin};
use std::task::Poll;

use futures_io::{AsyncRead, AsyncWrite};

/// Reads once into `buf`; `Ok(0)` means end of stream (or an empty `buf`).
pub async fn read<S: AsyncRead + Unpin + ?Sized>(
    stream: &mut S,
    buf: &mut [u8],
) -> io::Result<usize> {
    poll_fn(|cx| Pin::new(&mut *stream).poll_read(cx, buf)).await
}

/// Writes all of `buf`; a write that accepts nothing is `ErrorKind::WriteZero`.
pub async fn write_all<S: AsyncWrite + Unpin + ?Sized>(
    stream: &mut S,
    mut buf: &[u8],
) -> io::Result<()> {
    while !buf.is_empty() {
        let n = poll_fn(|cx| Pin::new(&mut *stream).poll_write(cx, buf)).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        buf = &buf[n..];
    }
    Ok(())
}

/// Flushes the stream.
pub async fn flush<S: AsyncWrite + Unpin + ?Sized>(stream: &mut S) -> io::Result<()> {
    poll_fn(|cx| Pin::new(&mut *stream).poll_flush(cx)).await
}

/// Closes the write side (for a TCP stream: `shutdown(SHUT_WR)`, so the peer reads EOF).
pub async fn close<S: AsyncWrite + Unpin + ?Sized>(stream: &mut S) -> io::Result<()> {
    poll_fn(|cx| Pin::new(&mut *stream).poll_close(cx)).await
}

/// Which of the two futures given to [`race`] finished first.
#[derive(Debug, PartialEq, Eq)]
pub enum Either<A, B> {
    /// The first future finished first (or both at once).
    Left(A),
    /// The second future finished first.
    Right(B),
}

/// Runs both futures until one finishes, polling `a` first; the other is dropped.
pub async fn race<A: Future, B: Future>(a: A, b: B) -> Either<A::Output, B::Output> {
    let mut a = pin!(a);
    let mut b = pin!(b);
    poll_fn(|cx| {
        if let Poll::Ready(v) = a.as_mut().poll(cx) {
            return Poll::Ready(Either::Left(v));
        }
        if let Poll::Ready(v) = b.as_mut().poll(cx) {
            return Poll::Ready(Either::Right(v));
        }
        Poll::Pending
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{MockStream, block_on};

    #[test]
    fn write_all_writes_in_pieces() {
        let mut s = MockStream::new(b"");
        s.max_write = 3;
        block_on(write_all(&mut s, b"hello world")).unwrap();
        assert_eq!(s.written, b"hello world");
    }

    #[test]
    fn race_prefers_the_first_ready() {
        let out = block_on(race(async { 1 }, async { 2 }));
        assert_eq!(out, Either::Left(1));
        let out = block_on(race(std::future::pending::<()>(), async { 2 }));
        assert_eq!(out, Either::Right(2));
    }
}
