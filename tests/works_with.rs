//! Runtime-neutral crates on evloop: channels and locks from `async-channel` and
//! `async-lock`, and `futures`' `BufReader::lines`, `io::copy` and `select!`, all over
//! real TCP connections on loopback, on epoll and on poll.

use std::cell::Cell;
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use futures::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use futures::{FutureExt, StreamExt};
use net::{TcpListener, TcpStream};
use runtime::BackendKind;

/// Runs `fut` on a fresh runtime with the backend under test; a hang fails the test.
fn run<F: Future>(kind: BackendKind, fut: F) -> F::Output {
    let rt = runtime::Builder::new().backend(kind).build().unwrap();
    rt.block_on(async move {
        match runtime::time::timeout(Duration::from_secs(60), fut).await {
            Ok(out) => out,
            Err(_) => panic!("test timed out on {kind:?}"),
        }
    })
}

async fn connected_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (server, _) = listener.accept().await.unwrap();
    (client, server)
}

/// `async-channel`: a channel fed from another OS thread (a remote wake of the loop)
/// whose messages a task writes to a socket; a task on the other end reads them as
/// lines and hands them on over a bounded channel (backpressure between tasks).
fn async_channel_from_a_thread_and_between_tasks(kind: BackendKind) {
    run(kind, async {
        const N: usize = 2000;
        let (client, server) = connected_pair().await;
        let (from_thread, to_socket) = async_channel::unbounded::<String>();
        let producer = std::thread::spawn(move || {
            for i in 0..N {
                from_thread.send_blocking(format!("message {i}")).unwrap();
            }
            // Dropping the sender closes the channel.
        });
        let writer = runtime::spawn(async move {
            while let Ok(msg) = to_socket.recv().await {
                client.write_all(msg.as_bytes()).await?;
                client.write_all(b"\n").await?;
            }
            client.shutdown(std::net::Shutdown::Write)
        });
        let (lines_tx, lines_rx) = async_channel::bounded::<String>(8);
        let reader = runtime::spawn(async move {
            let mut lines = BufReader::new(&server).lines();
            while let Some(line) = lines.next().await {
                lines_tx.send(line?).await.unwrap();
            }
            Ok::<_, std::io::Error>(())
        });
        let mut got = 0;
        while let Ok(line) = lines_rx.recv().await {
            assert_eq!(line, format!("message {got}"));
            got += 1;
        }
        assert_eq!(got, N);
        writer.await.unwrap().unwrap();
        reader.await.unwrap().unwrap();
        producer.join().unwrap();
    });
}

/// `async-lock`: a `Mutex` keeps each task's two-line record together on a shared
/// socket even though the holder yields and sleeps between the lines, and a
/// `Semaphore` bounds how many connections are served at once.
fn async_lock_mutex_and_semaphore(kind: BackendKind) {
    run(kind, async {
        const TASKS: usize = 10;
        let (client, server) = connected_pair().await;
        let (_client_rd, client_wr) = client.into_split();
        let shared = Rc::new(async_lock::Mutex::new(client_wr));
        let writers: Vec<_> = (0..TASKS)
            .map(|t| {
                let shared = shared.clone();
                runtime::spawn(async move {
                    let writer = shared.lock().await;
                    writer.write_all(format!("{t} first\n").as_bytes()).await?;
                    runtime::yield_now().await;
                    runtime::time::sleep(Duration::from_millis(1)).await;
                    writer.write_all(format!("{t} second\n").as_bytes()).await
                })
            })
            .collect();
        for w in writers {
            w.await.unwrap().unwrap();
        }
        shared.lock().await.shutdown().unwrap();
        let lines: Vec<String> = BufReader::new(&server)
            .lines()
            .map(|l| l.unwrap())
            .collect()
            .await;
        assert_eq!(lines.len(), 2 * TASKS);
        for pair in lines.chunks(2) {
            let (a, b) = (&pair[0], &pair[1]);
            let task = a
                .strip_suffix(" first")
                .expect("a record starts with its first line");
            assert_eq!(
                b,
                &format!("{task} second"),
                "records interleaved: {lines:?}"
            );
        }

        // A semaphore of 2 permits: never more than 2 connections served at once.
        const CLIENTS: usize = 6;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let permits = Rc::new(async_lock::Semaphore::new(2));
        let (busy, peak) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
        let server = {
            let (busy, peak) = (busy.clone(), peak.clone());
            runtime::spawn(async move {
                let mut served = Vec::new();
                for _ in 0..CLIENTS {
                    let (stream, _) = listener.accept().await.unwrap();
                    let (permits, busy, peak) = (permits.clone(), busy.clone(), peak.clone());
                    served.push(runtime::spawn(async move {
                        let _permit = permits.acquire().await;
                        busy.set(busy.get() + 1);
                        peak.set(peak.get().max(busy.get()));
                        let mut buf = [0; 4];
                        stream.read_exact(&mut buf).await.unwrap();
                        runtime::time::sleep(Duration::from_millis(2)).await;
                        stream.write_all(&buf).await.unwrap();
                        busy.set(busy.get() - 1);
                    }));
                }
                for s in served {
                    s.await.unwrap();
                }
            })
        };
        let clients: Vec<_> = (0..CLIENTS)
            .map(|i| {
                runtime::spawn(async move {
                    let stream = TcpStream::connect(addr).await.unwrap();
                    let msg = (i as u32).to_be_bytes();
                    stream.write_all(&msg).await.unwrap();
                    let mut back = [0; 4];
                    stream.read_exact(&mut back).await.unwrap();
                    assert_eq!(back, msg);
                })
            })
            .collect();
        for c in clients {
            c.await.unwrap();
        }
        server.await.unwrap();
        assert_eq!(peak.get(), 2, "the semaphore let {} in at once", peak.get());
    });
}

/// `futures::io::BufReader` with `lines()`: lines longer than its buffer, lines that
/// straddle writes, an empty line and a last line with no newline.
fn bufreader_lines(kind: BackendKind) {
    run(kind, async {
        let (client, server) = connected_pair().await;
        let mut expected: Vec<String> = (0..300).map(|i| "x".repeat(i * 7 % 200)).collect();
        expected.push(String::new());
        expected.push("the end, without a newline".into());
        let text = expected.join("\n");
        let writer = runtime::spawn(async move {
            // Odd-sized writes, so lines straddle them.
            for chunk in text.as_bytes().chunks(37) {
                client.write_all(chunk).await?;
            }
            client.shutdown(std::net::Shutdown::Write)
        });
        let lines: Vec<String> = BufReader::with_capacity(16, &server)
            .lines()
            .map(|l| l.unwrap())
            .collect()
            .await;
        assert_eq!(lines, expected);
        writer.await.unwrap().unwrap();
    });
}

/// `futures::io::copy`: an echo server that is one call, and a client that writes and
/// reads at the same time (more than the socket buffers hold).
fn io_copy_echo(kind: BackendKind) {
    run(kind, async {
        let (client, server) = connected_pair().await;
        let echo = runtime::spawn(async move {
            let copied = futures::io::copy(&server, &mut &server).await?;
            AsyncWriteExt::close(&mut &server).await?;
            Ok::<_, std::io::Error>(copied)
        });
        let data: Vec<u8> = (0..4 << 20).map(|i: u32| (i % 251) as u8).collect();
        // Through futures' extension traits (the inherent methods would win a plain
        // method call).
        let writing = async {
            let mut writer = &client;
            AsyncWriteExt::write_all(&mut writer, &data).await.unwrap();
            AsyncWriteExt::close(&mut writer).await.unwrap(); // shuts down the write side
        };
        let reading = async {
            let mut reader = &client;
            let mut back = Vec::new();
            AsyncReadExt::read_to_end(&mut reader, &mut back)
                .await
                .unwrap();
            back
        };
        let ((), back) = futures::join!(writing, reading);
        assert!(back == data, "the echo differs");
        assert_eq!(echo.await.unwrap().unwrap(), data.len() as u64);
    });
}

/// `futures::select!` over a socket's lines, a channel fed from another thread and an
/// evloop timer: every item from both sources arrives, then a timer beats a socket
/// that stays silent.
fn select_over_socket_channel_and_timer(kind: BackendKind) {
    run(kind, async {
        let (client, server) = connected_pair().await;
        let (tx, rx) = async_channel::unbounded::<u32>();
        let thread = std::thread::spawn(move || {
            for i in 0..50 {
                tx.send_blocking(i).unwrap();
            }
        });
        let writer = runtime::spawn(async move {
            for i in 0..50 {
                client.write_all(format!("line {i}\n").as_bytes()).await?;
                runtime::yield_now().await;
            }
            client.shutdown(std::net::Shutdown::Write)
        });
        let mut lines = BufReader::new(&server).lines().fuse();
        let mut messages = Box::pin(rx.fuse());
        let mut never = Box::pin(runtime::time::sleep(Duration::from_secs(3600)).fuse());
        let (mut got_lines, mut got_messages) = (Vec::new(), Vec::new());
        loop {
            futures::select! {
                line = lines.next() => if let Some(line) = line {
                    got_lines.push(line.unwrap());
                },
                msg = messages.next() => if let Some(msg) = msg {
                    got_messages.push(msg);
                },
                () = never => panic!("an hour passed"),
                complete => break,
            }
            if lines.is_done() && messages.is_done() {
                break;
            }
        }
        let want_lines: Vec<String> = (0..50).map(|i| format!("line {i}")).collect();
        assert_eq!(got_lines, want_lines);
        assert_eq!(got_messages, (0..50).collect::<Vec<u32>>());
        writer.await.unwrap().unwrap();
        thread.join().unwrap();

        // A peer that sends nothing: the timer wins the select.
        let (quiet, _peer) = connected_pair().await;
        let mut buf = [0u8; 8];
        let mut reader = &quiet;
        let mut read = Box::pin(AsyncReadExt::read(&mut reader, &mut buf).fuse());
        let mut timer = Box::pin(runtime::time::sleep(Duration::from_millis(20)).fuse());
        let timer_won = futures::select! {
            r = read => panic!("a silent peer was read: {r:?}"),
            () = timer => true,
        };
        assert!(timer_won);
    });
}

macro_rules! per_backend {
    ($($name:ident),* $(,)?) => {
        mod epoll {
            $( #[test] fn $name() { super::$name(super::BackendKind::Epoll) } )*
        }
        mod poll {
            $( #[test] fn $name() { super::$name(super::BackendKind::Poll) } )*
        }
    };
}

per_backend!(
    async_channel_from_a_thread_and_between_tasks,
    async_lock_mutex_and_semaphore,
    bufreader_lines,
    io_copy_echo,
    select_over_socket_channel_and_timer,
);
