//! The key-value server on tokio's current_thread runtime, as a tokio user writes it:
//! the same store, parser and commands as `kv_server` (`evloop::kv`), with tokio's own
//! `BufReader` and `BufWriter` over the halves of a `tokio::net::TcpStream`, `Rc<RefCell>`
//! state on a `LocalSet`, and a flush whenever the read buffer is used up.

use std::cell::RefCell;
use std::io;
use std::rc::Rc;
use std::time::Duration;

use evloop::kv::{
    EXPIRE_PERIOD, ExpirePolicy, Flow, Now, Parsed, Parser, READ_CAPACITY, Store, execute,
};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::TcpStream;

use crate::serve::announce;

/// How long the accept loop pauses after an error.
const ACCEPT_PAUSE: Duration = Duration::from_millis(10);

/// Runs the server on 127.0.0.1:`port` until the process is killed.
pub fn serve(port: u16) -> io::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        announce(listener.local_addr()?);
        let store = Rc::new(RefCell::new(Store::new()));
        tokio::task::spawn_local(active_expiry(store.clone()));
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    eprintln!("tokio kv: accept: {e}");
                    tokio::time::sleep(ACCEPT_PAUSE).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let store = store.clone();
            tokio::task::spawn_local(async move {
                let _ = connection(stream, &store).await;
            });
        }
    })
}

async fn active_expiry(store: Rc<RefCell<Store>>) {
    let mut ticks = tokio::time::interval(EXPIRE_PERIOD);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let policy = ExpirePolicy::default();
    loop {
        ticks.tick().await;
        store.borrow_mut().expire_cycle(&mut Now::lazy(), &policy);
    }
}

/// One client: parse what `BufReader` holds, write each reply into `BufWriter`, flush when
/// the read buffer is used up. A command cut by the end of the read buffer is carried
/// over in `partial`.
async fn connection(stream: TcpStream, store: &RefCell<Store>) -> io::Result<()> {
    let (read, write) = stream.into_split();
    let mut reader = BufReader::with_capacity(READ_CAPACITY, read);
    let mut writer = BufWriter::with_capacity(READ_CAPACITY, write);
    let mut parser = Parser::new();
    let mut partial: Vec<u8> = Vec::new();
    let mut reply = Vec::new();
    loop {
        if reader.buffer().is_empty() {
            writer.flush().await?;
        }
        let data = reader.fill_buf().await?;
        if data.is_empty() {
            writer.shutdown().await?;
            return Ok(());
        }
        let taken = data.len();
        let from_partial = !partial.is_empty();
        if from_partial {
            partial.extend_from_slice(data);
        }
        let mut now = Now::lazy();
        let mut at = 0;
        let mut close = false;
        loop {
            let buf = if from_partial {
                &partial[at..]
            } else {
                &reader.buffer()[at..]
            };
            let used = match parser.parse(buf) {
                Ok(Parsed::Command(n)) => {
                    let flow = execute(
                        &mut store.borrow_mut(),
                        parser.args(buf),
                        &mut now,
                        &mut reply,
                    );
                    close = flow == Flow::Close;
                    n
                }
                Ok(Parsed::Empty(n)) => n,
                Ok(Parsed::Incomplete) => break,
                Err(e) => {
                    evloop::kv::reply::error(&mut reply, format!("ERR {e}").as_bytes());
                    close = true;
                    0
                }
            };
            at += used;
            writer.write_all(&reply).await?;
            reply.clear();
            if close {
                writer.shutdown().await?;
                return Ok(());
            }
        }
        if from_partial {
            partial.drain(..at);
        } else {
            partial.extend_from_slice(&reader.buffer()[at..]);
        }
        reader.consume(taken);
    }
}
