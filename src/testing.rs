//! In-memory streams and a minimal executor for the unit tests.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::Instant;

use futures_io::{AsyncRead, AsyncWrite};

use crate::http::Sleeper;

/// A stream that yields `input` one chunk per read, then EOF (or waits forever if
/// `hang_at_end`), and records what is written.
#[derive(Debug, Default)]
pub(crate) struct MockStream {
    pub(crate) input: VecDeque<Vec<u8>>,
    pub(crate) hang_at_end: bool,
    pub(crate) written: Vec<u8>,
    pub(crate) writes: usize,
    pub(crate) max_write: usize,
    pub(crate) closed: bool,
}

impl MockStream {
    pub(crate) fn new(input: &[u8]) -> MockStream {
        MockStream::chunks(&[input])
    }

    pub(crate) fn chunks(chunks: &[&[u8]]) -> MockStream {
        MockStream {
            input: chunks
                .iter()
                .filter(|c| !c.is_empty())
                .map(|c| c.to_vec())
                .collect(),
            max_write: usize::MAX,
            ..MockStream::default()
        }
    }
}

impl AsyncRead for MockStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let Some(chunk) = self.input.front_mut() else {
            return if self.hang_at_end {
                Poll::Pending
            } else {
                Poll::Ready(Ok(0))
            };
        };
        let n = chunk.len().min(buf.len());
        buf[..n].copy_from_slice(&chunk[..n]);
        chunk.drain(..n);
        if chunk.is_empty() {
            self.input.pop_front();
        }
        Poll::Ready(Ok(n))
    }
}

impl AsyncWrite for MockStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let n = buf.len().min(self.max_write);
        self.written.extend_from_slice(&buf[..n]);
        self.writes += 1;
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.closed = true;
        Poll::Ready(Ok(()))
    }
}

/// A timer whose sleeps complete at once if their deadline has passed, and never
/// otherwise (the unit tests use deadlines far away or in the past).
#[derive(Debug)]
pub(crate) struct NowSleeper;

/// The sleep of [`NowSleeper`].
#[derive(Debug)]
pub(crate) struct NowSleep(Instant);

impl Future for NowSleep {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.0 {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl Sleeper for NowSleeper {
    type Sleep = NowSleep;
    fn sleep_until(&self, deadline: Instant) -> NowSleep {
        NowSleep(deadline)
    }
}

struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs `fut` on this thread; panics if it waits with nothing that could wake it.
pub(crate) fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    for _ in 0..1000 {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        thread::park_timeout(std::time::Duration::from_millis(1));
    }
    panic!("the future never finished");
}
