//! `evloop::kv::serve_connection` in-process, on epoll and on poll: it stops cleanly
//! between commands when asked, even with a client that reads nothing, and its replies
//! to a pipelined batch leave in one write.

use std::cell::{Cell, RefCell};
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use evloop::kv::{LINGER, Store, serve_connection};
use futures_io::{AsyncRead, AsyncWrite};
use runtime::BackendKind;

fn run<F: std::future::Future>(kind: BackendKind, fut: F) -> F::Output {
    let rt = runtime::Builder::new().backend(kind).build().unwrap();
    rt.block_on(async move {
        runtime::time::timeout(Duration::from_secs(30), fut)
            .await
            .unwrap_or_else(|_| panic!("hung on {kind:?}"))
    })
}

/// A stop signal: a Unix socket pair; the future completes when a byte arrives.
fn stop_pair() -> (net::UnixStream, impl std::future::Future<Output = ()>) {
    let (trigger, wait) = net::UnixStream::pair().unwrap();
    let stop = async move {
        let mut b = [0u8; 1];
        let _ = wait.read(&mut b).await;
    };
    (trigger, stop)
}

async fn read_exactly(stream: &net::UnixStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    stream.read_exact(&mut buf).await.unwrap();
    buf
}

fn stops_between_commands(kind: BackendKind) {
    run(kind, async {
        let (server, client) = net::UnixStream::pair().unwrap();
        let (trigger, stop) = stop_pair();
        let store = RefCell::new(Store::new());
        let serving = async { serve_connection(server, &store, stop).await };
        let talking = async {
            client
                .write_all(b"SET a 1\r\nGET a\r\nINCR n\r\n")
                .await
                .unwrap();
            let replies = read_exactly(&client, 5 + 7 + 4).await;
            assert_eq!(replies, b"+OK\r\n$1\r\n1\r\n:1\r\n");
            trigger.write_all(b"x").await.unwrap();
            let mut rest = Vec::new();
            let mut chunk = [0u8; 64];
            loop {
                match client.read(&mut chunk).await.unwrap() {
                    0 => break,
                    n => rest.extend_from_slice(&chunk[..n]),
                }
            }
            assert!(rest.is_empty(), "{rest:?}");
        };
        let (served, ()) = join(serving, talking).await;
        served.unwrap();
        assert_eq!(store.borrow().len(), 2);
    });
}

fn a_stop_does_not_wait_for_a_client_that_reads_nothing(kind: BackendKind) {
    run(kind, async {
        let (server, client) = net::UnixStream::pair().unwrap();
        let (trigger, stop) = stop_pair();
        let store = RefCell::new(Store::new());
        store
            .borrow_mut()
            .set(b"big", &vec![b'x'; 256 * 1024], evloop::kv::Expiry::Never);
        let counting = Counting::new(server);
        let blocked = counting.blocked.clone();
        let serving = async { serve_connection(counting, &store, stop).await };
        let flooding = async {
            for _ in 0..64 {
                client.write_all(b"GET big\r\n").await.unwrap();
            }
            // Once a write of the server's has found the socket full, ask it to stop.
            while blocked.get() == 0 {
                runtime::time::sleep(Duration::from_millis(1)).await;
            }
            let asked = Instant::now();
            trigger.write_all(b"x").await.unwrap();
            asked
        };
        let (served, asked) = join(serving, flooding).await;
        served.unwrap();
        let took = asked.elapsed();
        assert!(
            took < LINGER + Duration::from_secs(5),
            "stopping took {took:?}"
        );
        drop(client);
    });
}

/// Counts the writes that reach the stream, and those that found it full.
struct Counting {
    inner: net::UnixStream,
    writes: Rc<Cell<usize>>,
    blocked: Rc<Cell<usize>>,
}

impl Counting {
    fn new(inner: net::UnixStream) -> Counting {
        Counting {
            inner,
            writes: Rc::default(),
            blocked: Rc::default(),
        }
    }
}

impl AsyncRead for Counting {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counting {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        let count = if r.is_ready() {
            &self.writes
        } else {
            &self.blocked
        };
        count.set(count.get() + 1);
        r
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

fn a_pipelined_batch_is_answered_in_one_write(kind: BackendKind) {
    run(kind, async {
        let (server, client) = net::UnixStream::pair().unwrap();
        let store = RefCell::new(Store::new());

        // The whole batch is in the socket before the server first reads.
        let batch: Vec<u8> = (0..16)
            .flat_map(|i| {
                format!("*3\r\n$3\r\nSET\r\n$2\r\nk{}\r\n$1\r\nv\r\n", i % 10).into_bytes()
            })
            .collect();
        client.write_all(&batch).await.unwrap();
        let counting = Counting::new(server);
        let writes = counting.writes.clone();
        let serving = async { serve_connection(counting, &store, std::future::pending()).await };
        let reading = async {
            assert_eq!(read_exactly(&client, 16 * 5).await, b"+OK\r\n".repeat(16));
            let after_batch = writes.get();
            client.shutdown(std::net::Shutdown::Write).unwrap();
            after_batch
        };
        let (served, after_batch) = join(serving, reading).await;
        served.unwrap();
        assert_eq!(after_batch, 1, "16 replies in one write");
    });
}

/// Polls both to completion in one task.
async fn join<A, B>(a: A, b: B) -> (A::Output, B::Output)
where
    A: std::future::Future,
    B: std::future::Future,
{
    let (mut a, mut b) = (std::pin::pin!(a), std::pin::pin!(b));
    let (mut ra, mut rb) = (None, None);
    std::future::poll_fn(|cx| {
        if ra.is_none()
            && let Poll::Ready(v) = a.as_mut().poll(cx)
        {
            ra = Some(v);
        }
        if rb.is_none()
            && let Poll::Ready(v) = b.as_mut().poll(cx)
        {
            rb = Some(v);
        }
        match (ra.take(), rb.take()) {
            (Some(x), Some(y)) => Poll::Ready((x, y)),
            (x, y) => {
                (ra, rb) = (x, y);
                Poll::Pending
            }
        }
    })
    .await
}

macro_rules! per_backend {
    ($($name:ident),* $(,)?) => {
        mod epoll {
            $( #[test] fn $name() { super::$name(runtime::BackendKind::Epoll) } )*
        }
        mod poll {
            $( #[test] fn $name() { super::$name(runtime::BackendKind::Poll) } )*
        }
    };
}

per_backend!(
    stops_between_commands,
    a_stop_does_not_wait_for_a_client_that_reads_nothing,
    a_pipelined_batch_is_answered_in_one_write,
);
