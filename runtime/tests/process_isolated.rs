//! Counts of threads and fds around spawns. This file holds one test, so no other test
//! of the same process opens fds or starts threads while it counts.

#![cfg(target_os = "linux")]

mod common;

use std::io;
use std::process::Stdio;

use runtime::process::Command;

fn entries(dir: &str) -> usize {
    std::fs::read_dir(dir).expect("procfs is mounted").count()
}

#[test]
fn spawning_adds_no_thread_and_leaks_no_fd() -> io::Result<()> {
    let _watchdog = common::watchdog();
    let rt = runtime::Runtime::new()?;
    rt.block_on(async {
        // Warm up: the loop's first child makes what is made once (the orphan queue's
        // lock, the reactor's event buffer).
        assert!(Command::new("true").status().await?.success());
        let threads = entries("/proc/self/task");
        let fds = entries("/proc/self/fd");

        let mut children = Vec::new();
        for _ in 0..200 {
            children.push(Command::new("true").spawn()?);
        }
        // Not one thread more.
        assert_eq!(entries("/proc/self/task"), threads);
        let waits: Vec<_> = children
            .into_iter()
            .map(|mut c| runtime::spawn(async move { c.wait().await }))
            .collect();
        for wait in waits {
            assert!(wait.await.expect("no panic")?.success());
        }
        assert_eq!(entries("/proc/self/task"), threads);
        assert_eq!(entries("/proc/self/fd"), fds, "the pidfds were all closed");

        // The SIGCHLD path makes one listener (a socket pair) while children wait.
        let mut child = Command::new("true").watch_with_sigchld().spawn()?;
        assert!(child.wait().await?.success());
        drop(child);
        assert_eq!(entries("/proc/self/task"), threads);
        assert_eq!(
            entries("/proc/self/fd"),
            fds,
            "the SIGCHLD listener was closed"
        );

        // A missing program: NotFound, and every pipe made for it closed again.
        for _ in 0..3 {
            let err = Command::new("/nonexistent/evloop-no-such-program")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect_err("no such program");
            assert_eq!(err.kind(), io::ErrorKind::NotFound);
        }
        assert_eq!(entries("/proc/self/fd"), fds, "a failed spawn leaked an fd");

        // Piped streams are closed with the child.
        let out = Command::new("echo").arg("hi").output().await?;
        assert_eq!(out.stdout, b"hi\n");
        assert_eq!(entries("/proc/self/fd"), fds, "a piped stream leaked an fd");
        assert_eq!(entries("/proc/self/task"), threads);
        io::Result::Ok(())
    })
}
