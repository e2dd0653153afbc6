//! An echo server and a ping-pong load client, for counting the syscalls an echoed
//! message costs (see `net/tests/syscalls.sh`).
//!
//! ```text
//! cargo run -p net --release --example echo -- server 127.0.0.1:7000 50
//! cargo run -p net --release --example echo -- client 127.0.0.1:7000 50 10000 64
//! ```
//!
//! The server serves `CONNS` connections and exits once all of them have closed; it
//! prints its address and how many messages it echoed, and, built with
//! `--features syscall-count`, the data syscalls it made per echoed message. The client
//! opens `CONNS` connections and makes `MSGS` round trips of `SIZE` bytes on each.

use std::cell::Cell;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Instant;

fn usage() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "usage: echo server ADDR CONNS | echo client ADDR CONNS MSGS SIZE",
    )
}

fn arg<T: std::str::FromStr>(args: &[String], i: usize) -> io::Result<T> {
    args.get(i).and_then(|a| a.parse().ok()).ok_or_else(usage)
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let rt = runtime::Runtime::new()?;
    match args.get(1).map(String::as_str) {
        Some("server") => rt.block_on(server(arg(&args, 2)?, arg(&args, 3)?)),
        Some("client") => rt.block_on(client(
            arg(&args, 2)?,
            arg(&args, 3)?,
            arg(&args, 4)?,
            arg(&args, 5)?,
        )),
        _ => Err(usage()),
    }
}

async fn server(addr: SocketAddr, conns: usize) -> io::Result<()> {
    let listener = net::TcpListener::bind(addr).await?;
    println!("listening on {}", listener.local_addr()?);
    let messages = Rc::new(Cell::new(0u64));
    #[cfg(feature = "syscall-count")]
    let before = net::syscall_count();
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let messages = messages.clone();
        tasks.push(runtime::spawn(async move {
            let mut buf = vec![0; 4096];
            loop {
                match stream.read(&mut buf).await? {
                    0 => return Ok::<_, io::Error>(()),
                    n => {
                        stream.write_all(&buf[..n]).await?;
                        messages.set(messages.get() + 1);
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.map_err(|e| io::Error::other(e.to_string()))??;
    }
    print!("{} messages echoed", messages.get());
    #[cfg(feature = "syscall-count")]
    {
        let calls = net::syscall_count() - before;
        let m = messages.get().max(1);
        print!(
            "; {calls} data syscalls, {:.3} per message",
            calls as f64 / m as f64
        );
    }
    println!();
    Ok(())
}

async fn client(addr: SocketAddr, conns: usize, msgs: usize, size: usize) -> io::Result<()> {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..conns {
        tasks.push(runtime::spawn(async move {
            let stream = net::TcpStream::connect(addr).await?;
            stream.set_nodelay(true)?;
            let msg = vec![b'x'; size];
            let mut back = vec![0; size];
            for _ in 0..msgs {
                stream.write_all(&msg).await?;
                stream.read_exact(&mut back).await?;
            }
            Ok::<_, io::Error>(())
        }));
    }
    for t in tasks {
        t.await.map_err(|e| io::Error::other(e.to_string()))??;
    }
    let total = conns * msgs;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{total} round trips in {secs:.2} s ({:.0} per second)",
        total as f64 / secs
    );
    Ok(())
}
