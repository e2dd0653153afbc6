//! Accept under fd exhaustion (tokio #3529). The test binary runs itself as a child
//! with a low `RLIMIT_NOFILE` and a listener using the back-off accept loop documented
//! on `TcpListener::accept`. The parent opens more connections than the child has
//! descriptors for, waits for the child to report that it ran out (and how many it had
//! accepted), checks that it does not spin while it is out of them (its CPU time, from
//! `/proc`) and that exactly the accepted ones were served, then closes those and
//! checks that the child accepts and serves every queued one.

use std::io::{BufRead, BufReader, Read};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use reactor::BackendKind;

mod common;

const CHILD_ENV: &str = "NET_FD_EXHAUSTION_CHILD";
const LIMIT: libc::rlim_t = 64;
const CONNECTIONS: usize = 100;
const BACKOFF: Duration = Duration::from_millis(10);
/// The bound of every wait on the child: only a hang reaches it.
const HANG_GUARD: Duration = Duration::from_secs(30);

/// The child: serves `CONNECTIONS` connections with `LIMIT` descriptors, then exits.
#[test]
fn child_entry() {
    let Ok(backend) = std::env::var(CHILD_ENV) else {
        return; // an ordinary test run: nothing to do
    };
    let kind = match backend.as_str() {
        "poll" => BackendKind::Poll,
        "uring" => BackendKind::Uring,
        _ => BackendKind::Epoll,
    };
    let limit = libc::rlimit {
        rlim_cur: LIMIT,
        rlim_max: LIMIT,
    };
    // SAFETY: `limit` is a valid rlimit that setrlimit only reads.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) };
    assert_eq!(rc, 0, "setrlimit: {}", std::io::Error::last_os_error());
    let rt = runtime::Builder::new().backend(kind).build().unwrap();
    rt.block_on(async {
        let listener = net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("PORT {}", listener.local_addr().unwrap().port());
        let mut accepted = 0;
        let mut exhausted = 0u64;
        let open = Rc::new(std::cell::Cell::new(0usize));
        while accepted < CONNECTIONS {
            match listener.accept().await {
                Ok((stream, _)) => {
                    accepted += 1;
                    open.set(open.get() + 1);
                    let open = open.clone();
                    drop(runtime::spawn(async move {
                        let _ = stream.write_all(b"hi").await;
                        let mut buf = [0; 8];
                        // Hold the descriptor until the peer closes.
                        while let Ok(n) = stream.read(&mut buf).await {
                            if n == 0 {
                                break;
                            }
                        }
                        open.set(open.get() - 1);
                    }));
                }
                Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) => {
                    if exhausted == 0 {
                        // The first `accepted` connections in the queue are served.
                        println!("EXHAUSTED accepted={accepted}");
                    }
                    exhausted += 1;
                    runtime::time::sleep(BACKOFF).await;
                }
                Err(e) => panic!("accept: {e}"),
            }
        }
        println!("DONE accepted={accepted} exhausted={exhausted}");
        // Let the last replies go out before the process exits.
        while open.get() > 0 {
            runtime::time::sleep(Duration::from_millis(5)).await;
        }
    });
}

/// User plus system CPU time of `pid`, from `/proc/<pid>/stat`.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 here.
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // SAFETY: sysconf only reads a configuration value.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_millis(ticks * 1000 / hz)
}

/// Kills the child if the test fails before it exits.
struct Reap(Child);

impl Drop for Reap {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Whether `stream` has the server's greeting, waiting up to `wait`.
fn greeted(stream: &mut TcpStream, wait: Duration) -> bool {
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0; 2];
    matches!(stream.read_exact(&mut buf), Ok(()) if &buf == b"hi")
}

fn accept_recovers_after_fd_exhaustion(kind: BackendKind) {
    let backend = match kind {
        BackendKind::Poll => "poll",
        BackendKind::Uring => "uring",
        _ => "epoll",
    };
    let child = Command::new(std::env::current_exe().unwrap())
        .args(["child_entry", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, backend)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = Reap(child);
    let pid = child.0.id();
    // The child's output, line by line, read on a thread so every wait is bounded.
    let (line_tx, line_rx) = mpsc::channel::<String>();
    let stdout = child.0.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        // Read to the end even when nobody listens any more, so the child never
        // writes into a closed pipe.
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = line_tx.send(line);
        }
    });
    // The harness may print the test's name on the same line as the child's output.
    let next_with = |tag: &str| -> String {
        loop {
            let line = line_rx
                .recv_timeout(HANG_GUARD)
                .unwrap_or_else(|e| panic!("no `{tag}` line from the child: {e}"));
            if let Some(at) = line.find(tag) {
                return line[at + tag.len()..].trim().to_string();
            }
        }
    };
    let port: u16 = next_with("PORT ").parse().unwrap();

    let mut conns: Vec<TcpStream> = (0..CONNECTIONS)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    // The child says when it first runs out of descriptors, and how many connections
    // it had accepted by then: the first ones of the queue, which is in connect order.
    let first: usize = next_with("EXHAUSTED accepted=").parse().unwrap();
    assert!(
        first > 0 && first < CONNECTIONS,
        "{first} of {CONNECTIONS} accepted before exhaustion"
    );

    // The exhaustion window: the child must be waiting, not spinning.
    let (cpu0, wall0) = (cpu_time(pid), Instant::now());
    std::thread::sleep(Duration::from_millis(1000));
    let (cpu, wall) = (cpu_time(pid) - cpu0, wall0.elapsed());
    assert!(
        cpu.as_secs_f64() < 0.5 * wall.as_secs_f64(),
        "the child spun while out of descriptors: {cpu:?} CPU in {wall:?}"
    );

    // Those accepted are greeted; the others are not (nothing is freed yet, so the child
    // cannot accept them: a short wait suffices to see that none is greeted).
    let served: Vec<bool> = (0..CONNECTIONS).map(|i| i < first).collect();
    for (i, conn) in conns.iter_mut().enumerate() {
        if served[i] {
            assert!(
                greeted(conn, HANG_GUARD),
                "accepted connection {i} not greeted"
            );
        }
    }
    for (i, conn) in conns.iter_mut().enumerate().skip(first).take(5) {
        assert!(
            !greeted(conn, Duration::from_millis(20)),
            "connection {i} was served while the child had no descriptors"
        );
    }

    // Close the served connections: the child frees their descriptors and goes on
    // accepting the queued ones.
    let mut waiting = Vec::new();
    for (conn, served) in conns.drain(..).zip(served) {
        if !served {
            waiting.push(conn);
        }
    }
    for conn in &mut waiting {
        assert!(
            greeted(conn, Duration::from_secs(20)),
            "a queued connection was never served after descriptors were freed"
        );
    }
    drop(waiting);
    let done = next_with("DONE");
    assert!(done.contains(&format!("accepted={CONNECTIONS}")), "{done}");
    let status = child.0.wait().unwrap();
    reader.join().unwrap();
    assert!(status.success(), "child failed: {status}");
    eprintln!("{backend}: {first} served before exhaustion, CPU {cpu:?} in {wall:?}; {done}");
}

#[test]
fn epoll_accept_recovers_after_fd_exhaustion() {
    accept_recovers_after_fd_exhaustion(BackendKind::Epoll);
}

#[test]
fn poll_accept_recovers_after_fd_exhaustion() {
    accept_recovers_after_fd_exhaustion(BackendKind::Poll);
}

/// On io_uring the accept is multishot: running out of descriptors ends it with
/// `EMFILE`, the caller hears it once per call, and each call arms it again.
#[test]
fn uring_accept_recovers_after_fd_exhaustion() {
    if common::uring_refused() {
        return;
    }
    accept_recovers_after_fd_exhaustion(BackendKind::Uring);
}
