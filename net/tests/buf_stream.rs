//! `BufStream` over real sockets, on both backends: byte-at-a-time peers, the read and
//! write watermarks, a peer that never reads, a half-close, a reset during a flush, one
//! send per pipelined batch, and the halves and Unix streams.

mod common;

use std::io::{self, IoSlice, Read, Write};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use common::{connected_pair, fill, pattern, run};
use futures::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use futures::stream::StreamExt;
use futures_io::{AsyncRead, AsyncWrite};
use net::BufStream;
use reactor::BackendKind;

/// A server-side stream and a blocking std client connected to it; the client is for a
/// peer thread (`spawn_blocking`), so its syscalls are not this thread's.
async fn std_peer() -> (std::net::TcpStream, net::TcpStream) {
    let listener = net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connect = runtime::spawn_blocking(move || std::net::TcpStream::connect(addr));
    let (server, _) = listener.accept().await.unwrap();
    let client = connect.await.unwrap().unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    client.set_nodelay(true).unwrap();
    (client, server)
}

fn is_reset(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
    )
}

/// Sets `SO_SNDBUF` or `SO_RCVBUF` on a socket.
fn set_buffer(fd: std::os::fd::RawFd, option: libc::c_int, bytes: libc::c_int) {
    // SAFETY: a valid socket fd and an int option value of the size passed.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            option,
            (&raw const bytes).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "setsockopt: {}", io::Error::last_os_error());
}

/// The peer writes lines one byte per `write`, and reads the answers one byte per
/// `read`; the server reads with `lines`, `read_line` and `read_until`.
fn lines_from_a_byte_at_a_time_peer(kind: BackendKind) {
    run(kind, async {
        let (mut client, server) = std_peer().await;
        let peer = runtime::spawn_blocking(move || {
            let text = b"alpha\nbeta\ngamma\ndelta\nend\n";
            for b in text {
                client.write_all(&[*b]).unwrap();
            }
            let mut answers = Vec::new();
            let mut one = [0u8; 1];
            while client.read(&mut one).unwrap() == 1 {
                answers.push(one[0]);
            }
            answers
        });
        let mut conn = BufStream::new(server);
        conn.set_flush_before_wait(true);
        let mut line = String::new();
        assert_eq!(conn.read_line(&mut line).await.unwrap(), 6);
        assert_eq!(line, "alpha\n");
        conn.write_all(b"1:alpha\n").await.unwrap();
        let mut until = Vec::new();
        conn.read_until(b'\n', &mut until).await.unwrap();
        assert_eq!(until, b"beta\n");
        conn.write_all(b"2:beta\n").await.unwrap();
        let mut rest = Vec::new();
        let mut lines = (&mut conn).lines();
        while let Some(line) = lines.next().await {
            let line = line.unwrap();
            if line == "end" {
                break;
            }
            rest.push(line);
        }
        assert_eq!(rest, ["gamma", "delta"]);
        conn.write_all(b"3:gamma,delta\n").await.unwrap();
        conn.close().await.unwrap();
        let answers = peer.await.unwrap();
        assert_eq!(answers, b"1:alpha\n2:beta\n3:gamma,delta\n");
    });
}

/// `fill_buf` waits for the low watermark, and at end of stream returns what there is.
fn fill_buf_waits_for_the_low_watermark(kind: BackendKind) {
    run(kind, async {
        let (client, server) = connected_pair().await;
        let mut conn = BufStream::new(server);
        conn.set_read_watermarks(10, 0);
        assert_eq!(conn.read_watermarks(), (10, usize::MAX));
        for b in b"01234" {
            client.write_all(&[*b]).await.unwrap();
        }
        // Five bytes are there, fewer than the low watermark: fill_buf keeps waiting.
        let waited = runtime::time::timeout(Duration::from_millis(100), conn.fill_buf()).await;
        assert!(waited.is_err(), "fill_buf returned below the low watermark");
        assert_eq!(conn.buffer(), b"01234", "what was read stays buffered");
        client.write_all(b"56789abc").await.unwrap();
        let got = conn.fill_buf().await.unwrap();
        assert!(got.len() >= 10, "{got:?}");
        assert_eq!(&got[..10], b"0123456789");
        let n = got.len();
        conn.consume(n);
        // At end of stream, fewer than `low` bytes are returned rather than waited for.
        client.write_all(b"xyz").await.unwrap();
        client.shutdown(std::net::Shutdown::Write).unwrap();
        let mut tail = Vec::new();
        loop {
            let got = conn.fill_buf().await.unwrap();
            if got.is_empty() {
                break;
            }
            tail.extend_from_slice(got);
            let n = got.len();
            conn.consume(n);
        }
        assert_eq!(&tail[tail.len() - 3..], b"xyz");
    });
}

/// With a read high watermark, the buffer never holds more, nothing is read while it is
/// full, and `read_more` says why it will not read.
fn the_read_high_watermark_stops_reading(kind: BackendKind) {
    const HIGH: usize = 4096;
    const TOTAL: usize = 256 * 1024;
    run(kind, async {
        let (client, server) = connected_pair().await;
        let writer = runtime::spawn(async move {
            let mut data = vec![0u8; TOTAL];
            fill(3, 0, &mut data);
            client.write_all(&data).await.unwrap();
        });
        let mut conn = BufStream::new(Counting::new(server));
        conn.set_read_watermarks(1, HIGH);
        let mut seen = 0;
        let mut stopped = 0;
        while seen < TOTAL {
            let got = conn.fill_buf().await.unwrap();
            assert!(
                !got.is_empty() && got.len() <= HIGH,
                "{} buffered",
                got.len()
            );
            if got.len() == HIGH {
                // Full: fill_buf and read_more do not read from the stream.
                let before = conn.get_ref().reads;
                assert_eq!(conn.fill_buf().await.unwrap().len(), HIGH);
                let err = conn.read_more().await.unwrap_err();
                assert_eq!(err.kind(), io::ErrorKind::QuotaExceeded, "{err}");
                assert_eq!(conn.get_ref().reads, before);
                stopped += 1;
            }
            let got = conn.buffer();
            for (k, &b) in got.iter().enumerate() {
                assert_eq!(b, pattern(3, seen + k), "byte {}", seen + k);
            }
            // Consume half of it, so reads append to what is left.
            let n = got.len().div_ceil(2);
            conn.consume(n);
            seen += n;
        }
        assert!(stopped > 0, "the buffer never reached its high watermark");
        writer.await.unwrap();
    });
}

/// A peer that never reads: writes are `Pending` once the buffer holds exactly the high
/// watermark, the buffer never allocates more, and writing goes on only after it drained
/// to the low watermark. Then the peer reads, and gets every byte in order.
fn a_peer_that_never_reads_holds_output_at_the_high_watermark(kind: BackendKind) {
    const LOW: usize = 4 * 1024;
    const HIGH: usize = 32 * 1024;
    const CHUNK: usize = 1000;
    run(kind, async {
        let (mut client, server) = std_peer().await;
        set_buffer(
            std::os::fd::AsRawFd::as_raw_fd(&server),
            libc::SO_SNDBUF,
            16 * 1024,
        );
        let (start_tx, start_rx) = std::sync::mpsc::channel::<usize>();
        let peer = runtime::spawn_blocking(move || {
            let total = start_rx.recv().unwrap();
            let mut got = vec![0u8; total];
            client.read_exact(&mut got).unwrap();
            got
        });
        let mut conn = BufStream::new(server);
        conn.set_write_watermarks(LOW, HIGH);
        let mut chunk = [0u8; CHUNK];
        let mut written = 0;
        // Write until a write waits.
        loop {
            fill(9, written, &mut chunk);
            let r =
                std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut conn).poll_write(cx, &chunk)))
                    .await;
            assert!(conn.output().len() <= HIGH);
            assert!(
                conn.output_mut().capacity() <= HIGH,
                "allocated past the mark"
            );
            match r {
                Poll::Ready(n) => written += n.unwrap(),
                Poll::Pending => break,
            }
            assert!(
                written < 64 << 20,
                "writes to a peer that never reads never waited"
            );
        }
        assert_eq!(
            conn.output().len(),
            HIGH,
            "Pending only at the high watermark"
        );
        // The peer starts reading; the next write goes through only once the buffer
        // has drained to the low watermark.
        const MORE: usize = 100 * CHUNK;
        start_tx.send(written + MORE).unwrap();
        fill(9, written, &mut chunk);
        let n = conn.write(&chunk).await.unwrap();
        assert!(
            conn.output().len() <= LOW + n,
            "resumed with {} buffered",
            conn.output().len()
        );
        written += n;
        let end = written + MORE - n;
        while written < end {
            let take = (end - written).min(CHUNK);
            fill(9, written, &mut chunk[..take]);
            written += conn.write(&chunk[..take]).await.unwrap();
            assert!(conn.output().len() <= HIGH);
        }
        conn.flush().await.unwrap();
        let got = peer.await.unwrap();
        assert_eq!(got.len(), written);
        for (i, &b) in got.iter().enumerate() {
            assert_eq!(b, pattern(9, i), "byte {i}");
        }
    });
}

/// The peer sends three requests and half-closes; the server reads to end of stream,
/// then answers all three, and its close sends them before the FIN.
fn a_half_closed_peer_still_gets_every_answer(kind: BackendKind) {
    run(kind, async {
        let (client, server) = connected_pair().await;
        client.write_all(b"a\nb\nc\n").await.unwrap();
        client.shutdown(std::net::Shutdown::Write).unwrap();
        let mut conn = BufStream::new(server);
        conn.set_flush_before_wait(true);
        let mut requests = String::new();
        conn.read_to_string(&mut requests).await.unwrap();
        assert_eq!(requests, "a\nb\nc\n");
        for r in requests.lines() {
            conn.write_all(format!("answer {r}\n").as_bytes())
                .await
                .unwrap();
        }
        assert!(!conn.output().is_empty(), "the answers wait in the buffer");
        conn.close().await.unwrap();
        let mut answers = Vec::new();
        let mut chunk = [0u8; 64];
        loop {
            match client.read(&mut chunk).await.unwrap() {
                0 => break,
                n => answers.extend_from_slice(&chunk[..n]),
            }
        }
        assert_eq!(answers, b"answer a\nanswer b\nanswer c\n");
    });
}

/// The peer resets while a flush waits on a full socket: the flush fails with a reset,
/// the unsent output stays in the buffer, and later writes fail with the same kind.
fn a_reset_during_flush_is_reported_and_keeps_the_output(kind: BackendKind) {
    run(kind, async {
        let (client, server) = connected_pair().await;
        set_buffer(
            std::os::fd::AsRawFd::as_raw_fd(&server),
            libc::SO_SNDBUF,
            4096,
        );
        set_buffer(
            std::os::fd::AsRawFd::as_raw_fd(&client),
            libc::SO_RCVBUF,
            4096,
        );
        let mut conn = BufStream::new(server);
        conn.set_write_watermarks(0, 4 << 20);
        let big = vec![5u8; 1 << 20];
        assert_eq!(conn.write(&big).await.unwrap(), big.len(), "all buffered");
        let waited = runtime::time::timeout(Duration::from_millis(100), conn.flush()).await;
        assert!(
            waited.is_err(),
            "a 1 MiB flush to a peer that reads nothing finished"
        );
        let unsent = conn.output().len();
        assert!(unsent > 0);
        client.set_linger(Some(Duration::ZERO)).unwrap();
        drop(client);
        let err = conn.flush().await.unwrap_err();
        assert!(is_reset(&err), "{err:?}");
        assert!(!conn.output().is_empty(), "the unsent output was dropped");
        let again = conn.write(b"more").await.unwrap_err();
        assert_eq!(again.kind(), err.kind());
        let flush = conn.flush().await.unwrap_err();
        assert_eq!(flush.kind(), err.kind());
    });
}

/// Counts the reads asked of the wrapped stream, and records the buffers of each write
/// that reaches it.
struct Counting<S> {
    inner: S,
    reads: usize,
    writes: Vec<Vec<usize>>,
}

impl<S> Counting<S> {
    fn new(inner: S) -> Counting<S> {
        Counting {
            inner,
            reads: 0,
            writes: Vec::new(),
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Counting<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.reads += 1;
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counting<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[IoSlice::new(buf)])
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if r.is_ready() {
            self.writes.push(bufs.iter().map(|b| b.len()).collect());
        }
        r
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

/// A hundred pipelined requests, all received before the server reads: answered in the
/// output buffer, they go out in one send, made when the next read would wait.
fn a_pipelined_batch_costs_one_send(kind: BackendKind) {
    run(kind, async {
        let (mut client, server) = std_peer().await;
        let batch: String = (0..100).map(|i| format!("req {i}\n")).collect();
        let client = runtime::spawn_blocking(move || {
            client.write_all(batch.as_bytes()).unwrap();
            client
        })
        .await
        .unwrap();
        let reader = runtime::spawn_blocking(move || {
            let mut client = client;
            let mut all = String::new();
            let mut line = String::new();
            let mut r = std::io::BufReader::new(&mut client);
            for _ in 0..100 {
                line.clear();
                std::io::BufRead::read_line(&mut r, &mut line).unwrap();
                all.push_str(&line);
            }
            drop(r);
            client.shutdown(std::net::Shutdown::Write).unwrap();
            all
        });
        let mut conn = BufStream::new(Counting::new(server));
        conn.set_flush_before_wait(true);
        let mut answered = 0;
        loop {
            let buffered = conn.buffer();
            if let Some(end) = buffered.iter().position(|&b| b == b'\n') {
                let answer = [b"ok ", &buffered[4..=end]].concat();
                conn.output_mut().extend_from_slice(&answer);
                conn.consume(end + 1);
                answered += 1;
            } else if conn.read_more().await.unwrap() == 0 {
                break;
            }
        }
        assert_eq!(answered, 100);
        let answers = reader.await.unwrap();
        let expected: String = (0..100).map(|i| format!("ok {i}\n")).collect();
        assert_eq!(answers, expected);
        let writes = &conn.get_ref().writes;
        assert_eq!(writes.len(), 1, "sends: {writes:?}");
        assert_eq!(writes[0], [expected.len()]);
    });
}

/// A write that would reach the high watermark goes out with the buffer in one writev;
/// a smaller one is only buffered.
fn a_write_that_reaches_the_high_watermark_goes_out_in_one_writev(kind: BackendKind) {
    run(kind, async {
        let (client, server) = connected_pair().await;
        let reader = runtime::spawn(async move {
            let mut all = Vec::new();
            let mut chunk = vec![0u8; 64 << 10];
            loop {
                match client.read(&mut chunk).await.unwrap() {
                    0 => return all,
                    n => all.extend_from_slice(&chunk[..n]),
                }
            }
        });
        // A new registration learns that it is writable from its first reactor turn.
        server.writable().await.unwrap();
        let mut conn = BufStream::new(Counting::new(server));
        conn.set_write_watermarks(1024, 8192);
        conn.write_all(b"head ").await.unwrap();
        assert!(
            conn.get_ref().writes.is_empty(),
            "a small write is only buffered"
        );
        let body = vec![b'b'; 20_000];
        let n = conn.write(&body).await.unwrap();
        assert_eq!(n, body.len(), "the socket took it all");
        assert_eq!(conn.get_ref().writes, [vec![5, 20_000]]);
        assert!(conn.output().is_empty());
        conn.close().await.unwrap();
        let all = reader.await.unwrap();
        assert_eq!(all.len(), 20_005);
        assert_eq!(&all[..5], b"head ");
    });
}

/// The owned halves of a TCP stream, each in its own `BufStream`, and a Unix stream.
fn halves_and_unix_streams(kind: BackendKind) {
    run(kind, async {
        let (client, server) = connected_pair().await;
        let (read_half, write_half) = server.into_split();
        let mut input = BufStream::new(read_half);
        let mut output = BufStream::new(write_half);
        client.write_all(b"one\ntwo\n").await.unwrap();
        client.shutdown(std::net::Shutdown::Write).unwrap();
        let mut lines = (&mut input).lines();
        while let Some(line) = lines.next().await {
            output
                .write_all(line.unwrap().to_uppercase().as_bytes())
                .await
                .unwrap();
        }
        output.close().await.unwrap();
        let mut back = Vec::new();
        let mut client = client;
        futures::io::AsyncReadExt::read_to_end(&mut client, &mut back)
            .await
            .unwrap();
        assert_eq!(back, b"ONETWO");

        let (a, b) = net::UnixStream::pair().unwrap();
        let mut a = BufStream::new(a);
        let mut b = BufStream::new(b);
        a.write_all(b"over unix\n").await.unwrap();
        a.flush().await.unwrap();
        let mut line = String::new();
        b.read_line(&mut line).await.unwrap();
        assert_eq!(line, "over unix\n");
    });
}

per_backend!(
    lines_from_a_byte_at_a_time_peer,
    fill_buf_waits_for_the_low_watermark,
    the_read_high_watermark_stops_reading,
    a_peer_that_never_reads_holds_output_at_the_high_watermark,
    a_half_closed_peer_still_gets_every_answer,
    a_reset_during_flush_is_reported_and_keeps_the_output,
    a_pipelined_batch_costs_one_send,
    a_write_that_reaches_the_high_watermark_goes_out_in_one_writev,
    halves_and_unix_streams,
);
