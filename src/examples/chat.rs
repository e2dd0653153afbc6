//! `chat`: a line-based chat room. Every line a connection sends goes to every other
//! connection, prefixed with the sender's number.
//!
//! The room is `Rc<RefCell<..>>` state shared by the connection tasks of one loop: evloop's
//! `spawn` takes futures that are not `Send`, so no `Arc` or `Mutex` is needed. (With
//! `--threads N`, each loop has its own room.)
//!
//! On `SIGINT` or `SIGTERM` the room drains like the other example servers (see
//! [`crate::server`]): each member stops reading, is sent the lines already queued for it
//! and then [`GOODBYE`], and is closed. A member whose peer does not take those bytes is
//! cut off at the grace period (`--grace-ms`).
//!
//! ```text
//! cargo run --example chat -- [--addr 127.0.0.1:7001]
//! nc 127.0.0.1 7001
//! ```

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::poll_fn;
use std::io;
use std::process::ExitCode;
use std::rc::Rc;
use std::task::{Poll, Waker};

use runtime::sync::CancellationToken;

use crate::cli::{CliError, Flags, GRACEFUL_SERVER_FLAGS, ServerArgs, graceful_server_usage};
use crate::io::{Either, race, read, write_all};
use crate::server;

/// The default port.
pub const PORT: u16 = 7001;

/// The last line every member is sent when the server drains.
pub const GOODBYE: &[u8] = b"server: shutting down\n";

/// The longest line kept; longer lines are cut.
const MAX_LINE: usize = 4096;

/// The usage text.
pub fn usage() -> String {
    format!("usage: chat [OPTIONS]\n\n{}", graceful_server_usage(PORT))
}

/// Parses the arguments after the program name.
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<ServerArgs, CliError> {
    ServerArgs::from_flags(&Flags::parse(args, &GRACEFUL_SERVER_FLAGS)?, PORT)
}

/// The lines waiting for one member, and the task waiting for them.
#[derive(Debug, Default)]
struct Inbox {
    lines: RefCell<VecDeque<Rc<[u8]>>>,
    waker: RefCell<Option<Waker>>,
}

impl Inbox {
    /// Waits for the next line.
    async fn next(&self) -> Rc<[u8]> {
        poll_fn(|cx| match self.lines.borrow_mut().pop_front() {
            Some(line) => Poll::Ready(line),
            None => {
                *self.waker.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }

    /// The lines queued now, without waiting.
    fn take_queued(&self) -> VecDeque<Rc<[u8]>> {
        std::mem::take(&mut *self.lines.borrow_mut())
    }
}

/// The members of one loop's room.
#[derive(Debug, Default)]
struct Room {
    members: Vec<(u64, Rc<Inbox>)>,
    next_id: u64,
}

impl Room {
    fn join(&mut self) -> (u64, Rc<Inbox>) {
        self.next_id += 1;
        let inbox = Rc::new(Inbox::default());
        self.members.push((self.next_id, inbox.clone()));
        (self.next_id, inbox)
    }

    fn leave(&mut self, id: u64) {
        self.members.retain(|(member, _)| *member != id);
    }

    fn broadcast(&self, from: u64, line: &[u8]) {
        let line: Rc<[u8]> = format!("{from}: {}\n", String::from_utf8_lossy(line))
            .into_bytes()
            .into();
        for (id, inbox) in &self.members {
            if *id != from {
                inbox.lines.borrow_mut().push_back(line.clone());
                if let Some(waker) = inbox.waker.borrow_mut().take() {
                    waker.wake();
                }
            }
        }
    }
}

async fn member(
    room: Rc<RefCell<Room>>,
    mut stream: net::TcpStream,
    drain: CancellationToken,
) -> io::Result<()> {
    let (id, inbox) = room.borrow_mut().join();
    let mut buf = vec![0u8; MAX_LINE];
    let mut filled = 0;
    let result = loop {
        let next = race(read(&mut stream, &mut buf[filled..]), inbox.next());
        let next = match race(next, drain.cancelled()).await {
            Either::Left(next) => next,
            Either::Right(()) => break goodbye(&mut stream, &inbox).await,
        };
        match next {
            Either::Left(Ok(0)) => break Ok(()),
            Either::Left(Ok(n)) => {
                filled += n;
                let mut start = 0;
                while let Some(at) = buf[start..filled].iter().position(|&b| b == b'\n') {
                    let line = buf[start..start + at].trim_ascii_end();
                    room.borrow().broadcast(id, line);
                    start += at + 1;
                }
                if start == 0 && filled == buf.len() {
                    room.borrow().broadcast(id, &buf);
                    start = filled;
                }
                buf.copy_within(start..filled, 0);
                filled -= start;
            }
            Either::Left(Err(e)) => break Err(e),
            Either::Right(line) => {
                if let Err(e) = write_all(&mut stream, &line).await {
                    break Err(e);
                }
            }
        }
    };
    room.borrow_mut().leave(id);
    result
}

/// The drain's end of a member: the lines queued for it, then [`GOODBYE`].
async fn goodbye(stream: &mut net::TcpStream, inbox: &Inbox) -> io::Result<()> {
    for line in inbox.take_queued() {
        write_all(stream, &line).await?;
    }
    write_all(stream, GOODBYE).await
}

/// Runs the chat server until `SIGINT` or `SIGTERM`, then drains it.
pub fn run(args: ServerArgs) -> io::Result<()> {
    server::serve(&args, |_index| {
        let room = Rc::new(RefCell::new(Room::default()));
        move |stream, drain| {
            let room = room.clone();
            async move {
                let _ = member(room, stream, drain).await;
            }
        }
    })
    .map(drop)
}

/// The example's `main`: parses `std::env::args`, runs, and gives the exit code.
pub fn main() -> ExitCode {
    match super::parse(parse(std::env::args().skip(1)), &usage()) {
        Ok(args) => super::exit("chat", run(args)),
        Err(code) => code,
    }
}
