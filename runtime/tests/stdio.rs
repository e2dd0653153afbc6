//! `runtime::io::{stdin, stdout, stderr}` with real standard streams: each test reruns
//! this test binary as a child process whose stdin or stdout is a pipe, a tty or a
//! regular file, and talks to it.

mod common;

use std::io::{self, Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::pin::Pin;
use std::process::{Child, Stdio};
use std::task::Context;

use futures::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use runtime::io::{Stdin, stdin, stdout};

/// The environment variable that names the test a rerun child is for.
const ROLE: &str = "EVLOOP_STDIO_ROLE";

fn is_child(test: &str) -> bool {
    std::env::var(ROLE).as_deref() == Ok(test)
}

/// Reruns this binary for `test` alone, with the given stdin and stdout.
fn rerun(test: &str, stdin: Stdio, stdout: Stdio) -> Child {
    let exe = std::env::current_exe().expect("the test binary's path");
    std::process::Command::new(exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(ROLE, test)
        .stdin(stdin)
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .expect("the test binary reruns")
}

/// Waits for the rerun child and checks that its test passed (its harness's summary is
/// in its stdout, or in `seen` when the caller has read or redirected that).
fn passed(child: Child, seen: &[u8]) -> Vec<u8> {
    let out = child.wait_with_output().expect("the child is awaited");
    let text = String::from_utf8_lossy(seen).into_owned()
        + &String::from_utf8_lossy(&out.stdout)
        + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the child failed:\n{text}");
    assert!(text.contains("1 passed"), "the child ran no test:\n{text}");
    out.stdout
}

fn passed_with_file(out: std::process::Output, written: &[u8]) {
    let text =
        String::from_utf8_lossy(written).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the child failed:\n{text}");
    assert!(text.contains("1 passed"), "the child ran no test:\n{text}");
}

fn nonblocking(fd: libc::c_int) -> bool {
    // SAFETY: `F_GETFL` on a standard stream; no memory involved.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    assert!(flags >= 0, "fd {fd} is open");
    flags & libc::O_NONBLOCK != 0
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn pipes_go_through_the_reactor_and_stay_blocking_for_others() -> io::Result<()> {
    const TEST: &str = "pipes_go_through_the_reactor_and_stay_blocking_for_others";
    if is_child(TEST) {
        return runtime::Runtime::new()?.block_on(async {
            let mut input = stdin();
            let mut output = stdout();
            // Elsewhere a pipe cannot be given a private description: the pool.
            let path = if cfg!(target_os = "linux") {
                "reactor"
            } else {
                "blocking pool"
            };
            assert_eq!(input.path_name(), path);
            assert_eq!(output.path_name(), path);
            let mut data = Vec::new();
            input.read_to_end(&mut data).await?;
            output.write_all(b"<<").await?;
            output.write_all(&data.to_ascii_uppercase()).await?;
            output.write_all(b">>").await?;
            output.flush().await?;
            // The inherited descriptions, shared with the parent, were never touched.
            assert!(!nonblocking(0) && !nonblocking(1));
            Ok(())
        });
    }
    let _watchdog = common::watchdog();
    let mut child = rerun(TEST, Stdio::piped(), Stdio::piped());
    let mut to_child = child.stdin.take().expect("piped");
    // More than a pipe buffer each way.
    let data: Vec<u8> = (0..300_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let sent = data.clone();
    let writer = std::thread::spawn(move || to_child.write_all(&sent));
    let out = passed(child, b"");
    writer.join().expect("no panic")?;
    let mut want = b"<<".to_vec();
    want.extend(data.to_ascii_uppercase());
    want.extend(b">>");
    assert!(contains(&out, &want), "the bytes came back upper-cased");
    Ok(())
}

/// Polls a read of `stdin` once and drops it: the pool job it started stays in flight.
fn start_and_drop_a_read(stdin: &mut Stdin) {
    let mut buf = [0u8; 64];
    let mut cx = Context::from_waker(std::task::Waker::noop());
    let poll = Pin::new(stdin).poll_read(&mut cx, &mut buf);
    assert!(poll.is_pending(), "nothing was written yet");
}

#[test]
fn a_pool_read_dropped_halfway_keeps_its_bytes_for_the_next_read() -> io::Result<()> {
    const TEST: &str = "a_pool_read_dropped_halfway_keeps_its_bytes_for_the_next_read";
    if is_child(TEST) {
        return runtime::Runtime::new()?.block_on(async {
            let mut first = Stdin::through_pool();
            assert_eq!(first.path_name(), "blocking pool");
            start_and_drop_a_read(&mut first);
            drop(first);
            // Only now does the parent write: the bytes reach the pool thread's
            // `read(2)` of the dropped read.
            println!("dropped");
            io::stdout().flush()?;
            let mut second = Stdin::through_pool();
            let mut data = Vec::new();
            second.read_to_end(&mut data).await?;
            println!("<<{}>>", String::from_utf8_lossy(&data));
            Ok(())
        });
    }
    let _watchdog = common::watchdog();
    let mut child = rerun(TEST, Stdio::piped(), Stdio::piped());
    let mut to_child = child.stdin.take().expect("piped");
    let mut from_child = child.stdout.take().expect("piped");
    let mut seen = Vec::new();
    let mut byte = [0u8; 1];
    while !contains(&seen, b"dropped\n") {
        let n = from_child
            .read(&mut byte)
            .expect("the child's stdout reads");
        assert_eq!(n, 1, "the child ended early: {seen:?}");
        seen.push(byte[0]);
    }
    to_child
        .write_all(b"abc\n")
        .expect("the child reads its stdin");
    drop(to_child);
    from_child
        .read_to_end(&mut seen)
        .expect("the child's stdout reads");
    child.stdout = None;
    passed(child, &seen);
    assert!(
        contains(&seen, b"<<abc\n>>"),
        "{}",
        String::from_utf8_lossy(&seen)
    );
    Ok(())
}

/// A pseudo-terminal: the master, and the slave to give the child as its stdin.
fn pty() -> io::Result<(std::fs::File, OwnedFd)> {
    // SAFETY: `posix_openpt`, `grantpt`, `unlockpt` and `ptsname` on the fd just opened;
    // `ptsname`'s string is copied before any other call could overwrite it, and `open`
    // gets a NUL-terminated path.
    unsafe {
        let master = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
        if master < 0 {
            return Err(io::Error::last_os_error());
        }
        let master = std::fs::File::from_raw_fd(master);
        let fd = std::os::fd::AsRawFd::as_raw_fd(&master);
        if libc::grantpt(fd) != 0 || libc::unlockpt(fd) != 0 {
            return Err(io::Error::last_os_error());
        }
        let name = libc::ptsname(fd);
        if name.is_null() {
            return Err(io::Error::last_os_error());
        }
        let name = std::ffi::CStr::from_ptr(name).to_owned();
        let slave = libc::open(
            name.as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        );
        if slave < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok((master, OwnedFd::from_raw_fd(slave)))
    }
}

#[test]
fn a_tty_goes_through_the_pool_and_is_never_made_non_blocking() -> io::Result<()> {
    const TEST: &str = "a_tty_goes_through_the_pool_and_is_never_made_non_blocking";
    if is_child(TEST) {
        return runtime::Runtime::new()?.block_on(async {
            // SAFETY: `isatty` on fd 0.
            assert_eq!(unsafe { libc::isatty(0) }, 1);
            let mut input = stdin();
            assert_eq!(input.path_name(), "blocking pool");
            let mut line = [0u8; 3];
            input.read_exact(&mut line).await?;
            assert!(!nonblocking(0), "the shared tty stays blocking");
            println!("<<{}>>", String::from_utf8_lossy(&line));
            Ok(())
        });
    }
    let _watchdog = common::watchdog();
    let (mut master, slave) = pty()?;
    let child = rerun(TEST, Stdio::from(slave), Stdio::piped());
    master.write_all(b"hi\n").expect("the pty takes a line");
    let out = passed(child, b"");
    assert!(
        contains(&out, b"<<hi\n>>"),
        "{}",
        String::from_utf8_lossy(&out)
    );
    Ok(())
}

#[test]
fn a_regular_file_stdout_goes_through_the_pool() -> io::Result<()> {
    const TEST: &str = "a_regular_file_stdout_goes_through_the_pool";
    let data: Vec<u8> = (0..200_000u32).map(|i| b'A' + (i % 26) as u8).collect();
    if is_child(TEST) {
        return runtime::Runtime::new()?.block_on(async {
            let mut output = stdout();
            assert_eq!(output.path_name(), "blocking pool");
            // Several pool chunks, handed over one after the other.
            output.write_all(b"<<").await?;
            output.write_all(&data).await?;
            output.write_all(b">>").await?;
            output.flush().await?;
            assert!(!nonblocking(1));
            Ok(())
        });
    }
    let _watchdog = common::watchdog();
    let path = std::env::temp_dir().join(format!("evloop-stdio-{}.out", std::process::id()));
    let file = std::fs::File::create(&path)?;
    let child = rerun(TEST, Stdio::null(), Stdio::from(file));
    let status = child.wait_with_output()?;
    let written = std::fs::read(&path)?;
    passed_with_file(status, &written);
    std::fs::remove_file(&path)?;
    let mut want = b"<<".to_vec();
    want.extend(&data);
    want.extend(b">>");
    assert!(
        contains(&written, &want),
        "every chunk reached the file, in order"
    );
    Ok(())
}

#[test]
fn a_socket_goes_through_the_reactor_with_its_flags_untouched() -> io::Result<()> {
    const TEST: &str = "a_socket_goes_through_the_reactor_with_its_flags_untouched";
    if is_child(TEST) {
        return runtime::Runtime::new()?.block_on(async {
            let mut input = stdin();
            assert_eq!(input.path_name(), "reactor");
            let mut data = Vec::new();
            input.read_to_end(&mut data).await?;
            assert!(!nonblocking(0), "the shared socket stays blocking");
            println!("<<{}>>", String::from_utf8_lossy(&data));
            Ok(())
        });
    }
    let _watchdog = common::watchdog();
    let (mut ours, theirs) = std::os::unix::net::UnixStream::pair()?;
    let child = rerun(TEST, Stdio::from(OwnedFd::from(theirs)), Stdio::piped());
    ours.write_all(b"over a socket")
        .expect("the child's socket takes the bytes");
    ours.shutdown(std::net::Shutdown::Write)
        .expect("the write side closes");
    let out = passed(child, b"");
    assert!(
        contains(&out, b"<<over a socket>>"),
        "{}",
        String::from_utf8_lossy(&out)
    );
    Ok(())
}
