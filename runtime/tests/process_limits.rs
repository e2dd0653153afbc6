//! Spawning at the process's limits: no fd left, and `SIGPIPE` at its default action.
//! Each test reruns this test binary as a child process (so that a lowered limit or a
//! changed signal disposition stays in that child), which does the work and exits.

mod common;

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;

use futures::AsyncWriteExt;
use runtime::process::Command;

/// The environment variable that names the test a rerun child is for.
const ROLE: &str = "EVLOOP_PROCESS_LIMITS_ROLE";

/// In the parent: reruns this binary for `test` alone and checks that it passed.
/// In the rerun child: returns true, and the caller does the work.
fn in_child(test: &str) -> bool {
    if std::env::var(ROLE).as_deref() == Ok(test) {
        return true;
    }
    let _watchdog = common::watchdog();
    let exe = std::env::current_exe().expect("the test binary's path");
    let out = std::process::Command::new(exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(ROLE, test)
        .stdin(Stdio::null())
        .output()
        .expect("the test binary reruns");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.signal(),
        None,
        "the child died of a signal:\n{text}"
    );
    assert!(out.status.success(), "the child failed:\n{text}");
    assert!(text.contains("1 passed"), "the child ran no test:\n{text}");
    false
}

#[test]
fn writing_to_a_dead_childs_stdin_raises_no_sigpipe() -> io::Result<()> {
    if !in_child("writing_to_a_dead_childs_stdin_raises_no_sigpipe") {
        return Ok(());
    }
    // Rust programs ignore SIGPIPE before `main`; a C host or `-Zon-broken-pipe` does
    // not. At the default action a SIGPIPE would end this process.
    // SAFETY: `signal` with a valid signal number and `SIG_DFL`.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    runtime::Runtime::new()?.block_on(async {
        for sigchld in [false, true] {
            let mut cmd = Command::new("true");
            cmd.stdin(Stdio::piped());
            if sigchld {
                cmd.watch_with_sigchld();
            }
            let mut child = cmd.spawn()?;
            let mut stdin = child.stdin.take().expect("piped");
            assert!(child.wait().await?.success());
            for _ in 0..3 {
                let err = stdin
                    .write_all(b"nobody reads this")
                    .await
                    .expect_err("gone");
                assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
                let bufs = [io::IoSlice::new(b"a"), io::IoSlice::new(b"b")];
                let err = stdin.write_vectored(&bufs).await.expect_err("gone");
                assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
            }
        }
        // No SIGPIPE is left pending for later either.
        let mut pending = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
        // SAFETY: `sigpending` fills the set.
        unsafe { libc::sigpending(pending.as_mut_ptr()) };
        // SAFETY: `pending` was filled above.
        let is_pending = unsafe { libc::sigismember(pending.as_ptr(), libc::SIGPIPE) };
        assert_eq!(is_pending, 0);
        io::Result::Ok(())
    })
}

fn open_fds_until_emfile() -> Vec<std::fs::File> {
    let mut held = Vec::new();
    loop {
        match std::fs::File::open("/dev/null") {
            Ok(f) => held.push(f),
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(libc::EMFILE), "{e}");
                return held;
            }
        }
    }
}

#[test]
fn fd_exhaustion_during_spawn_is_an_error_and_the_loop_goes_on() -> io::Result<()> {
    if !in_child("fd_exhaustion_during_spawn_is_an_error_and_the_loop_goes_on") {
        return Ok(());
    }
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `getrlimit`/`setrlimit` with a valid resource and pointer.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        limit.rlim_cur = 128.min(limit.rlim_max);
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
    }
    runtime::Runtime::new()?.block_on(async {
        let mut held = open_fds_until_emfile();
        let err = Command::new("true")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect_err("no fd is left for the pipes");
        assert_eq!(err.raw_os_error(), Some(libc::EMFILE), "{err}");
        let err = Command::new("echo").output().await.expect_err("no fd left");
        assert_eq!(err.raw_os_error(), Some(libc::EMFILE), "{err}");

        // With 1, 2, ... fds free, each step of a spawn (the pipes, the exec-error pipe,
        // the pidfd, the SIGCHLD listener) fails in turn; every spawn either fails with
        // an error or gives a child that can be awaited, and none is left a zombie.
        let mut spawned = 0;
        for _ in 0..8 {
            held.pop();
            match Command::new("true").spawn() {
                Ok(mut child) => {
                    let pid = child.id().expect("running");
                    let status = match child.wait().await {
                        Ok(status) => status,
                        // The watch is made by the wait: with no fd for it the wait
                        // fails, and succeeds once fds are back.
                        Err(e) => {
                            assert_eq!(e.raw_os_error(), Some(libc::EMFILE), "{e}");
                            held.clear();
                            child.wait().await?
                        }
                    };
                    assert!(status.success());
                    // SAFETY: signal 0 only checks for the process.
                    assert_eq!(unsafe { libc::kill(pid as libc::pid_t, 0) }, -1, "zombie");
                    spawned += 1;
                }
                Err(e) => assert!(e.raw_os_error().is_some(), "an OS error: {e}"),
            }
        }
        assert!(spawned > 0, "8 free fds are enough for a spawn");

        // The loop goes on: tasks, timers and spawns work once fds are back.
        drop(held);
        let task = runtime::spawn(async { 21 * 2 });
        runtime::time::sleep(std::time::Duration::from_millis(1)).await;
        assert_eq!(task.await.expect("no panic"), 42);
        let out = Command::new("echo").arg("back").output().await?;
        assert_eq!(out.stdout, b"back\n");
        io::Result::Ok(())
    })
}
