//! io_uring refused by the kernel falls back to epoll, with one line on stderr.
//!
//! The test runs this binary again as a child that installs a seccomp filter making
//! `io_uring_setup` fail, as a container's seccomp profile (`EPERM`), an old kernel
//! (`ENOSYS`) or `kernel.io_uring_disabled` (`EPERM`) would; the child then asks for the
//! io_uring backend, twice, and says what it got.

#![cfg(target_os = "linux")]

use std::process::Command;

use reactor::{BackendKind, Reactor};

const CHILD_ENV: &str = "REACTOR_URING_FALLBACK_ERRNO";

/// Makes `io_uring_setup` fail with `errno` in this thread (and threads it starts).
fn refuse_io_uring(errno: u32) {
    // seccomp_data: `nr` at offset 0. The filter: load nr; if io_uring_setup, fail with
    // errno; else allow.
    let filter = [
        libc::sock_filter {
            code: (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16,
            jt: 0,
            jf: 0,
            k: 0,
        },
        libc::sock_filter {
            code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
            jt: 0,
            jf: 1,
            k: libc::SYS_io_uring_setup as u32,
        },
        libc::sock_filter {
            code: (libc::BPF_RET | libc::BPF_K) as u16,
            jt: 0,
            jf: 0,
            k: libc::SECCOMP_RET_ERRNO | errno,
        },
        libc::sock_filter {
            code: (libc::BPF_RET | libc::BPF_K) as u16,
            jt: 0,
            jf: 0,
            k: libc::SECCOMP_RET_ALLOW,
        },
    ];
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr().cast_mut(),
    };
    // SAFETY: PR_SET_NO_NEW_PRIVS takes integers; PR_SET_SECCOMP reads `prog`, which
    // points to `filter`, both alive across the call.
    unsafe {
        assert_eq!(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
        assert_eq!(
            libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER,
                &prog as *const libc::sock_fprog
            ),
            0,
            "seccomp: {}",
            std::io::Error::last_os_error()
        );
    }
}

#[test]
fn child_entry() {
    let Ok(errno) = std::env::var(CHILD_ENV) else {
        return; // an ordinary test run: nothing to do
    };
    refuse_io_uring(errno.parse().unwrap());
    for _ in 0..2 {
        let r = Reactor::builder()
            .backend(BackendKind::Uring)
            .build()
            .expect("the fallback opens");
        println!("BACKEND {}", r.backend_name());
        // And it works: a turn runs.
        r.turn(Some(std::time::Instant::now())).unwrap();
    }
}

fn falls_back(errno: i32) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["child_entry", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, errno.to_string())
        .env_remove("EVLOOP_BACKEND")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed: {stdout}\n{stderr}");
    assert_eq!(stdout.matches("BACKEND epoll").count(), 2, "{stdout}");
    let said = stderr.matches("io_uring is not available").count();
    assert_eq!(said, 1, "one line, once per process: {stderr}");
    let errno_text = std::io::Error::from_raw_os_error(errno).to_string();
    assert!(stderr.contains(&errno_text), "the line says why: {stderr}");
    assert!(stderr.contains("using epoll"), "{stderr}");
}

#[test]
fn enosys_falls_back_to_epoll() {
    falls_back(libc::ENOSYS);
}

#[test]
fn eperm_falls_back_to_epoll() {
    falls_back(libc::EPERM);
}
