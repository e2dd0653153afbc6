//! `net::BufStream` driven through random sequences of its operations, over a scripted
//! peer that answers each read and write with a short count, `Pending`, `Interrupted`,
//! end of stream or a reset, as the input says.
//!
//! Input: two bytes give the length of what the peer sends, then those bytes, then the
//! control bytes, which choose both the next operation and how the peer answers each
//! call. Checked after every step:
//! - input: what the application consumed, followed by what is buffered, is exactly
//!   what the peer has sent so far (nothing lost, doubled or reordered);
//! - output: what the peer received is a prefix of what the application wrote, and,
//!   until a write fails, received followed by the unsent output is all of it;
//! - a successful flush leaves nothing unsent;
//! - the read watermarks hold: `fill_buf` returns at least `low` bytes unless the stream
//!   ended or `high` is reached, the buffer never holds more than `high`, and
//!   `read_more` at `high` is `QuotaExceeded`;
//! - the output never passes the write high watermark through `poll_write`;
//! - a failed write is reported again by every later write, flush and close.

use std::cell::RefCell;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use futures_io::{AsyncBufRead, AsyncRead, AsyncWrite};
use net::BufStream;

/// The control bytes, shared by the driver and the scripted peer.
struct Control {
    bytes: Vec<u8>,
    at: usize,
}

impl Control {
    fn byte(&mut self) -> u8 {
        let b = self.bytes.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        b
    }

    fn done(&self) -> bool {
        self.at >= self.bytes.len()
    }
}

/// What the scripted peer has done.
#[derive(Default)]
struct Peer {
    /// What it will send.
    sends: Vec<u8>,
    /// How much of it was read.
    sent: usize,
    /// Every byte written to it.
    received: Vec<u8>,
    reset: bool,
    broken: bool,
    closed: bool,
}

struct Scripted {
    control: Rc<RefCell<Control>>,
    peer: Rc<RefCell<Peer>>,
}

impl AsyncRead for Scripted {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let c = self.control.borrow_mut().byte();
        let mut peer = self.peer.borrow_mut();
        if peer.reset {
            return Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()));
        }
        match c % 8 {
            0 => {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            1 => Poll::Ready(Err(io::ErrorKind::Interrupted.into())),
            2 if c >= 248 => {
                peer.reset = true;
                Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()))
            }
            _ => {
                let left = peer.sends.len() - peer.sent;
                let n = buf.len().min(left).min(1 + usize::from(c >> 3) * 97);
                let from = peer.sent;
                buf[..n].copy_from_slice(&peer.sends[from..from + n]);
                peer.sent += n;
                Poll::Ready(Ok(n))
            }
        }
    }
}

impl AsyncWrite for Scripted {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let c = self.control.borrow_mut().byte();
        let mut peer = self.peer.borrow_mut();
        assert!(!peer.closed, "a write after close");
        if peer.broken {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        match c % 8 {
            0 => {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            1 if c >= 248 => {
                peer.broken = true;
                Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()))
            }
            _ => {
                let mut room = 1 + usize::from(c >> 3) * 211;
                let mut n = 0;
                for b in bufs {
                    let take = b.len().min(room);
                    peer.received.extend_from_slice(&b[..take]);
                    room -= take;
                    n += take;
                    if room == 0 {
                        break;
                    }
                }
                Poll::Ready(Ok(n))
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.peer.borrow_mut().closed = true;
        Poll::Ready(Ok(()))
    }
}

/// What the application did.
#[derive(Default)]
struct App {
    consumed: Vec<u8>,
    written: Vec<u8>,
    /// The next byte to write: a counter, so that order is visible.
    next: u8,
    write_failed: Option<io::ErrorKind>,
    /// How much input was buffered after the last step.
    buffered: usize,
    /// How much of `consumed`, and of what the peer received, is checked.
    checked_in: usize,
    checked_out: usize,
}

impl App {
    fn data(&mut self, n: usize) -> Vec<u8> {
        (0..n)
            .map(|_| {
                self.next = self.next.wrapping_add(1);
                self.next
            })
            .collect()
    }
}

/// Polls `f` a few times (the peer may answer `Pending`); `None` if it stays pending.
fn poll<T>(mut f: impl FnMut(&mut Context<'_>) -> Poll<T>) -> Option<T> {
    let mut cx = Context::from_waker(Waker::noop());
    (0..4).find_map(|_| match f(&mut cx) {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    })
}

/// The check (see the module docs).
pub fn check(data: &[u8]) {
    let mut bytes = crate::Bytes::new(data);
    let len = usize::from(bytes.u16()) % 4096;
    let sends = bytes.take(len).to_vec();
    let control = Rc::new(RefCell::new(Control {
        bytes: bytes.take(usize::MAX).to_vec(),
        at: 0,
    }));
    let peer = Rc::new(RefCell::new(Peer {
        sends,
        ..Peer::default()
    }));
    let capacity = 1 + usize::from(control.borrow_mut().byte()) * 16;
    let mut s = BufStream::with_capacity(
        capacity,
        Scripted {
            control: control.clone(),
            peer: peer.clone(),
        },
    );
    let mut app = App::default();
    let mut closed = false;
    let mut steps = 0;
    while !control.borrow().done() && steps < 500 {
        steps += 1;
        let op = control.borrow_mut().byte();
        let arg = usize::from(control.borrow_mut().byte());
        match op % 11 {
            0 => {
                let (low, high) = s.read_watermarks();
                let r = poll(|cx| Pin::new(&mut s).poll_fill_buf(cx).map_ok(<[u8]>::len));
                if let Some(Err(e)) = r {
                    read_error(&mut app, e);
                } else if let Some(Ok(n)) = r {
                    let ended = peer.borrow().sent == peer.borrow().sends.len();
                    assert!(
                        n >= low || n >= high || ended,
                        "fill_buf returned {n} < low {low}"
                    );
                    let take = arg.min(n);
                    app.consumed.extend_from_slice(&s.buffer()[..take]);
                    Pin::new(&mut s).consume(take);
                }
            }
            1 => {
                let before = s.buffer().len();
                let high = s.read_watermarks().1;
                match poll(|cx| Pin::new(&mut s).poll_read_more(cx)) {
                    Some(Ok(0)) => {
                        let p = peer.borrow();
                        assert_eq!(p.sent, p.sends.len(), "end of stream before the end");
                    }
                    Some(Ok(n)) => assert_eq!(s.buffer().len(), before + n),
                    Some(Err(e)) if before >= high => {
                        assert_eq!(e.kind(), io::ErrorKind::QuotaExceeded)
                    }
                    Some(Err(e)) => read_error(&mut app, e),
                    None => {}
                }
            }
            2 => {
                let mut buf = vec![0; arg];
                match poll(|cx| Pin::new(&mut s).poll_read(cx, &mut buf)) {
                    Some(Ok(n)) => app.consumed.extend_from_slice(&buf[..n]),
                    Some(Err(e)) => read_error(&mut app, e),
                    None => {}
                }
            }
            3 | 4 if !closed => {
                let out_before = s.output().len();
                let a = app.data(arg * 3);
                let b = app.data(arg % 17);
                let r = if op % 11 == 3 {
                    poll(|cx| Pin::new(&mut s).poll_write(cx, &a))
                } else {
                    let slices = [IoSlice::new(&a), IoSlice::new(&b)];
                    poll(|cx| Pin::new(&mut s).poll_write_vectored(cx, &slices))
                };
                let all: Vec<u8> = a.iter().chain(&b).copied().collect();
                match r {
                    Some(Ok(n)) => {
                        assert!(
                            app.write_failed.is_none(),
                            "a write succeeded after a failure"
                        );
                        assert!(n <= all.len());
                        app.written.extend_from_slice(&all[..n]);
                        // The counter must follow what was taken.
                        app.next = app.written.last().copied().unwrap_or(0);
                        let high = s.write_watermarks().1;
                        assert!(
                            s.output().len() <= high.max(out_before),
                            "a write took the output past its high watermark"
                        );
                    }
                    Some(Err(e)) => record_failure(&mut app, e),
                    None => app.next = app.written.last().copied().unwrap_or(0),
                }
            }
            5 if !closed && app.write_failed.is_none() => {
                let more = app.data(arg);
                s.output_mut().extend_from_slice(&more);
                app.written.extend_from_slice(&more);
            }
            6 | 10 if !closed => {
                let close = op % 11 == 10 && op >= 200;
                let r = if close {
                    poll(|cx| Pin::new(&mut s).poll_close(cx))
                } else {
                    poll(|cx| Pin::new(&mut s).poll_flush(cx))
                };
                match r {
                    Some(Ok(())) => {
                        assert!(
                            app.write_failed.is_none(),
                            "a flush succeeded after a failure"
                        );
                        assert!(s.output().is_empty(), "a flush left output unsent");
                        assert_eq!(peer.borrow().received, app.written, "flushed output");
                        closed |= close;
                    }
                    Some(Err(e)) => record_failure(&mut app, e),
                    None => {}
                }
            }
            7 => {
                let low = arg % 64;
                let high = match op >> 4 {
                    0 => 0,
                    h => low + usize::from(h) * 8,
                };
                s.set_read_watermarks(low, high);
            }
            8 => {
                let high = 1 + arg * 8;
                let low = usize::from(op >> 4) * high / 16;
                s.set_write_watermarks(low, high);
            }
            9 if !closed => {
                s.set_flush_before_wait(op & 0x10 != 0);
                if let Some(Err(e)) = poll(|cx| Pin::new(&mut s).poll_write_ready(cx)) {
                    record_failure(&mut app, e);
                }
            }
            _ => {}
        }
        invariants(&s, &mut app, &peer.borrow());
        app.buffered = s.buffer().len();
    }
}

/// A read fails with the peer's reset, or, with flush before wait, with the failure of
/// the send it made before waiting.
fn read_error(app: &mut App, e: io::Error) {
    match e.kind() {
        io::ErrorKind::ConnectionReset => {}
        _ => record_failure(app, e),
    }
}

fn record_failure(app: &mut App, e: io::Error) {
    assert_eq!(
        e.kind(),
        io::ErrorKind::BrokenPipe,
        "unexpected write error {e}"
    );
    app.write_failed = Some(e.kind());
}

fn invariants(s: &BufStream<Scripted>, app: &mut App, peer: &Peer) {
    // What was consumed since the last step, then what is buffered, must be the next
    // bytes the peer sent. Checked incrementally: the checked part never changes.
    let consumed = app.consumed.len();
    assert_eq!(
        app.consumed[app.checked_in..],
        peer.sends[app.checked_in..consumed],
        "input lost, doubled or reordered"
    );
    app.checked_in = consumed;
    assert_eq!(
        consumed + s.buffer().len(),
        peer.sent,
        "input lost or doubled"
    );
    assert_eq!(
        s.buffer(),
        &peer.sends[consumed..peer.sent],
        "input reordered"
    );
    // Nothing is read while `high` bytes are buffered (lowering `high` under what is
    // buffered keeps what is there).
    let high = s.read_watermarks().1;
    assert!(
        s.buffer().len() <= high.max(app.buffered),
        "a read took the input past its high watermark"
    );
    let received = peer.received.len();
    assert!(
        received <= app.written.len(),
        "the peer received more than was written"
    );
    assert_eq!(
        peer.received[app.checked_out..],
        app.written[app.checked_out..received],
        "the peer received what was not written"
    );
    app.checked_out = received;
    if app.write_failed.is_none() {
        assert_eq!(
            received + s.output().len(),
            app.written.len(),
            "output lost or doubled"
        );
        assert_eq!(s.output(), &app.written[received..], "output reordered");
    }
}
