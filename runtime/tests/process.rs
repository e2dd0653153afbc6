//! `runtime::process`: children spawned, fed, read and awaited on the loop, through the
//! pidfd path and the `SIGCHLD` path.

mod common;

use std::io;
use std::process::Stdio;

use futures::{AsyncReadExt, AsyncWriteExt};
use runtime::process::{Child, Command};

/// Whether `pid` is still in the process table (alive, or a zombie nobody reaped):
/// `kill(pid, 0)` succeeds for both, and fails with `ESRCH` once it was reaped.
fn in_process_table(pid: u32) -> bool {
    // SAFETY: signal 0 only checks that the process exists; nothing is sent.
    let ret = unsafe { libc::kill(pid as libc::pid_t, 0) };
    ret == 0 || io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// Waits (bounded) until `pid` has left the process table: it was reaped.
async fn until_reaped(pid: u32) -> bool {
    for _ in 0..10_000 {
        if !in_process_table(pid) {
            return true;
        }
        runtime::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    false
}

#[runtime::test]
async fn output_collects_stdout_stderr_and_the_status() -> io::Result<()> {
    let out = Command::new("sh")
        .args(["-c", "echo out; echo err >&2; exit 3"])
        .output()
        .await?;
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(out.stdout, b"out\n");
    assert_eq!(out.stderr, b"err\n");
    Ok(())
}

#[runtime::test]
async fn status_and_wait_report_the_exit() -> io::Result<()> {
    assert!(Command::new("true").status().await?.success());
    assert!(!Command::new("false").status().await?.success());
    let mut child = Command::new("sh").args(["-c", "exit 7"]).spawn()?;
    let pid = child.id().expect("a running child has a pid");
    assert!(pid > 0);
    assert_eq!(child.wait().await?.code(), Some(7));
    // Collected: the pid is no longer ours, and waiting again gives the same status.
    assert_eq!(child.id(), None);
    assert_eq!(child.wait().await?.code(), Some(7));
    assert_eq!(child.try_wait()?.and_then(|s| s.code()), Some(7));
    Ok(())
}

#[cfg(target_os = "linux")]
#[runtime::test]
async fn linux_children_are_watched_by_a_pidfd_from_their_first_wait() -> io::Result<()> {
    let mut child = Command::new("sh")
        .args(["-c", "read x"])
        .stdin(Stdio::piped())
        .spawn()?;
    // Nothing is made for the watch until a wait finds the child running.
    assert!(!child.is_watched_by_pidfd());
    let mut stdin = child.stdin.take().expect("piped");
    let waited = runtime::time::timeout(std::time::Duration::from_millis(1), child.wait()).await;
    assert!(waited.is_err(), "the child waits for its stdin");
    assert!(child.is_watched_by_pidfd());
    stdin.write_all(b"go\n").await?;
    assert!(child.wait().await?.success());
    Ok(())
}

async fn many_children(sigchld: bool, n: usize) -> io::Result<()> {
    let mut tasks = Vec::new();
    for i in 0..n {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", &format!("exit {}", i % 50)]);
        if sigchld {
            cmd.watch_with_sigchld();
        }
        let mut child = cmd.spawn()?;
        tasks.push(runtime::spawn(async move { child.wait().await }));
    }
    for (i, task) in tasks.into_iter().enumerate() {
        let status = task.await.expect("the wait task does not panic")?;
        assert_eq!(status.code(), Some((i % 50) as i32));
    }
    Ok(())
}

#[runtime::test]
async fn many_concurrent_children_through_the_pidfd_path() -> io::Result<()> {
    many_children(false, 100).await
}

#[runtime::test]
async fn many_concurrent_children_through_the_sigchld_path() -> io::Result<()> {
    many_children(true, 100).await
}

#[runtime::test]
async fn sigchld_path_waits_for_a_child_that_exits_later() -> io::Result<()> {
    // The child exits only once we close its stdin: its exit comes after the wait
    // started, so the wait must be woken by the delivery.
    let mut child = Command::new("sh")
        .args(["-c", "read x; exit 4"])
        .stdin(Stdio::piped())
        .watch_with_sigchld()
        .spawn()?;
    assert!(!child.is_watched_by_pidfd());
    let mut stdin = child.stdin.take().expect("piped");
    let waiter = runtime::spawn(async move { child.wait().await });
    runtime::yield_now().await;
    stdin.write_all(b"line\n").await?;
    drop(stdin);
    assert_eq!(waiter.await.expect("no panic")?.code(), Some(4));
    Ok(())
}

#[runtime::test]
async fn piped_stdin_and_stdout_round_trip_through_cat() -> io::Result<()> {
    let mut child = Command::new("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut stdin = child.stdin.take().expect("piped");
    let mut stdout = child.stdout.take().expect("piped");
    // More than a pipe buffer, so that both sides must wait for each other.
    let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let sent = data.clone();
    let writer = runtime::spawn(async move {
        stdin.write_all(&sent).await?;
        stdin.close().await?;
        // Writes after close fail, they do not reach a dead fd.
        let err = stdin.write(b"x").await.expect_err("closed");
        assert_eq!(err.kind(), io::ErrorKind::NotConnected);
        io::Result::Ok(())
    });
    let mut got = Vec::new();
    stdout.read_to_end(&mut got).await?;
    writer.await.expect("no panic")?;
    assert_eq!(got.len(), data.len());
    assert!(got == data);
    assert!(child.wait().await?.success());
    Ok(())
}

#[runtime::test]
async fn a_child_that_closes_stdout_early_gives_the_reader_eof() -> io::Result<()> {
    // The child closes its stdout, says so on stderr, and then waits for its stdin:
    // it is still alive when the reader sees end of file.
    let mut child = Command::new("sh")
        .args([
            "-c",
            "echo early; exec 1>&-; echo closed >&2; read x; exit 0",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut out = Vec::new();
    child
        .stdout
        .as_mut()
        .expect("piped")
        .read_to_end(&mut out)
        .await?;
    assert_eq!(out, b"early\n");
    let mut line = [0u8; 7];
    child
        .stderr
        .as_mut()
        .expect("piped")
        .read_exact(&mut line)
        .await?;
    assert_eq!(&line, b"closed\n");
    assert!(
        child.try_wait()?.is_none(),
        "the child still runs after closing stdout"
    );
    // Closing stdin lets `read` fail and the shell exit.
    assert!(child.wait().await?.success());
    Ok(())
}

#[runtime::test]
async fn writing_to_a_dead_childs_stdin_is_broken_pipe() -> io::Result<()> {
    let mut child = Command::new("true").stdin(Stdio::piped()).spawn()?;
    let mut stdin = child.stdin.take().expect("piped");
    assert!(child.wait().await?.success());
    let err = stdin
        .write_all(b"nobody reads this")
        .await
        .expect_err("the reader is gone");
    assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    Ok(())
}

#[runtime::test]
async fn a_missing_program_is_not_found() {
    let err = Command::new("/nonexistent/evloop-no-such-program")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect_err("there is no such program");
    assert_eq!(err.kind(), io::ErrorKind::NotFound);
    let err = Command::new("evloop-no-such-program-in-path")
        .output()
        .await
        .expect_err("there is no such program");
    assert_eq!(err.kind(), io::ErrorKind::NotFound);
}

#[runtime::test]
async fn kill_ends_a_running_child() -> io::Result<()> {
    let mut child = Command::new("sleep").arg("1000").spawn()?;
    assert!(child.try_wait()?.is_none());
    child.kill().await?;
    let status = child.wait().await?;
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    // Killing a collected child is a no-op.
    child.start_kill()?;
    Ok(())
}

fn spawn_sleeper(kill_on_drop: bool, sigchld: bool) -> io::Result<Child> {
    let mut cmd = Command::new("sleep");
    cmd.arg("1000").kill_on_drop(kill_on_drop);
    if sigchld {
        cmd.watch_with_sigchld();
    }
    cmd.spawn()
}

#[runtime::test]
async fn a_dropped_child_with_kill_on_drop_is_killed_and_reaped() -> io::Result<()> {
    for sigchld in [false, true] {
        let child = spawn_sleeper(true, sigchld)?;
        let pid = child.id().expect("running");
        drop(child);
        assert!(until_reaped(pid).await, "pid {pid} left as a zombie");
    }
    Ok(())
}

#[runtime::test]
async fn a_dropped_child_is_reaped_once_it_exits() -> io::Result<()> {
    // The child runs until its stdin closes, which happens only after the drop: it
    // exits as an orphan, and the loop's reaper must collect it.
    let mut child = Command::new("sh")
        .args(["-c", "read x"])
        .stdin(Stdio::piped())
        .spawn()?;
    let pid = child.id().expect("running");
    let stdin = child.stdin.take().expect("piped");
    drop(child);
    assert!(in_process_table(pid));
    drop(stdin);
    assert!(until_reaped(pid).await, "pid {pid} left as a zombie");
    // And it was ours to reap: nobody else took a status.
    // SAFETY: `waitpid` with a valid out-pointer and `WNOHANG`.
    let ret = unsafe { libc::waitpid(pid as libc::pid_t, &mut 0, libc::WNOHANG) };
    assert_eq!(ret, -1);
    assert_eq!(
        io::Error::last_os_error().raw_os_error(),
        Some(libc::ECHILD)
    );
    Ok(())
}

#[runtime::test]
async fn a_wait_dropped_halfway_loses_nothing() -> io::Result<()> {
    let mut child = Command::new("sh")
        .args(["-c", "read x; exit 5"])
        .stdin(Stdio::piped())
        .spawn()?;
    let mut stdin = child.stdin.take().expect("piped");
    // A wait that times out is cancelled; the child is still ours.
    let waited = runtime::time::timeout(std::time::Duration::from_millis(1), child.wait()).await;
    assert!(
        waited.is_err(),
        "the child cannot exit before its stdin says so"
    );
    stdin.write_all(b"go\n").await?;
    assert_eq!(child.wait().await?.code(), Some(5));
    Ok(())
}

#[test]
fn a_child_dropped_with_its_runtime_is_killed_and_reaped_later() -> io::Result<()> {
    let _watchdog = common::watchdog();
    let rt = runtime::Runtime::new()?;
    let pid = rt.block_on(async {
        let child = spawn_sleeper(true, false)?;
        let pid = child.id().expect("running");
        // The task holds the child and never ends: the runtime's drop drops it.
        drop(runtime::spawn(async move {
            let _child = child;
            std::future::pending::<()>().await
        }));
        runtime::yield_now().await;
        io::Result::Ok(pid)
    })?;
    drop(rt);
    // Killed by the drop; with no loop left to listen, the next spawn (on any loop)
    // reaps it.
    let rt = runtime::Runtime::new()?;
    rt.block_on(async {
        assert!(
            until_reaped_after_spawns(pid).await,
            "pid {pid} left as a zombie"
        );
        io::Result::Ok(())
    })
}

/// Like [`until_reaped`], spawning a child each round (each spawn reaps the orphans).
async fn until_reaped_after_spawns(pid: u32) -> bool {
    for _ in 0..1000 {
        if !in_process_table(pid) {
            return true;
        }
        let _ = Command::new("true").status().await;
    }
    false
}

#[runtime::test]
async fn one_childs_stdout_feeds_anothers_stdin() -> io::Result<()> {
    let mut first = Command::new("echo")
        .arg("through a pipe")
        .stdout(Stdio::piped())
        .spawn()?;
    let pipe: Stdio = first.stdout.take().expect("piped").try_into()?;
    let out = Command::new("tr")
        .args(["a-z", "A-Z"])
        .stdin(pipe)
        .output()
        .await?;
    assert!(first.wait().await?.success());
    assert_eq!(out.stdout, b"THROUGH A PIPE\n");
    Ok(())
}

#[cfg(feature = "tokio-io")]
#[runtime::test]
async fn pipes_speak_tokios_io_traits() -> io::Result<()> {
    use std::future::poll_fn;
    use std::pin::Pin;
    use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

    let mut child = Command::new("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut stdin = child.stdin.take().expect("piped");
    let mut stdout = child.stdout.take().expect("piped");
    let n = poll_fn(|cx| Pin::new(&mut stdin).poll_write(cx, b"tokio")).await?;
    assert_eq!(n, 5);
    poll_fn(|cx| Pin::new(&mut stdin).poll_shutdown(cx)).await?;
    let mut got = Vec::new();
    loop {
        let mut buf = [0u8; 3];
        let mut rb = ReadBuf::new(&mut buf);
        poll_fn(|cx| Pin::new(&mut stdout).poll_read(cx, &mut rb)).await?;
        if rb.filled().is_empty() {
            break;
        }
        got.extend_from_slice(rb.filled());
    }
    assert_eq!(got, b"tokio");
    assert!(child.wait().await?.success());
    Ok(())
}

#[cfg(feature = "hyper")]
#[runtime::test]
async fn pipes_speak_hypers_io_traits() -> io::Result<()> {
    use std::future::poll_fn;
    use std::pin::Pin;

    let mut child = Command::new("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut stdin = child.stdin.take().expect("piped");
    let mut stdout = child.stdout.take().expect("piped");
    let n = poll_fn(|cx| hyper::rt::Write::poll_write(Pin::new(&mut stdin), cx, b"hyper")).await?;
    assert_eq!(n, 5);
    poll_fn(|cx| hyper::rt::Write::poll_shutdown(Pin::new(&mut stdin), cx)).await?;
    let mut got = Vec::new();
    loop {
        let mut storage = [std::mem::MaybeUninit::<u8>::uninit(); 4];
        let mut buf = hyper::rt::ReadBuf::uninit(&mut storage);
        poll_fn(|cx| hyper::rt::Read::poll_read(Pin::new(&mut stdout), cx, buf.unfilled())).await?;
        if buf.filled().is_empty() {
            break;
        }
        got.extend_from_slice(buf.filled());
    }
    assert_eq!(got, b"hyper");
    assert!(child.wait().await?.success());
    Ok(())
}

#[test]
fn the_orphan_reaper_ends_once_its_orphans_are_reaped() -> io::Result<()> {
    let _watchdog = common::watchdog();
    let rt = runtime::Runtime::new()?;
    rt.block_on(async {
        let child = spawn_sleeper(true, false)?;
        let pid = child.id().expect("running");
        drop(child);
        assert!(until_reaped(pid).await, "pid {pid} left as a zombie");
        io::Result::Ok(())
    })?;
    // Nothing of the reaper is left for a shutdown to wait for. Other tests of this
    // process may queue orphans of their own at the same time, whose reapers belong to
    // their own runtimes.
    assert_eq!(rt.shutdown_timeout(std::time::Duration::from_secs(30)), 0);
    Ok(())
}

#[test]
fn each_runtime_of_a_thread_reaps_its_own_dropped_children() -> io::Result<()> {
    let _watchdog = common::watchdog();
    let first = runtime::Runtime::new()?;
    // The first runtime drops a child that runs on: its reaper task waits, and the
    // runtime stops running (it is not in `block_on` any more).
    let pid1 = first.block_on(async {
        let child = spawn_sleeper(false, false)?;
        let pid = child.id().expect("running");
        drop(child);
        runtime::yield_now().await;
        io::Result::Ok(pid)
    })?;
    // A second runtime on the same thread must reap what it drops by itself.
    let second = runtime::Runtime::new()?;
    second.block_on(async {
        let child = spawn_sleeper(true, false)?;
        let pid2 = child.id().expect("running");
        drop(child);
        assert!(until_reaped(pid2).await, "pid {pid2} left as a zombie");
        // The first runtime's orphan ends now, while only the second one runs.
        // SAFETY: `kill` on a pid that is still our unreaped child.
        assert_eq!(unsafe { libc::kill(pid1 as libc::pid_t, libc::SIGTERM) }, 0);
        assert!(until_reaped(pid1).await, "pid {pid1} left as a zombie");
        io::Result::Ok(())
    })?;
    drop(first);
    Ok(())
}
