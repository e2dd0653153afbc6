//! The limit: an echo server written directly on `libc` epoll, with no runtime.
//!
//! Level-triggered, one `EPOLLIN` registration per connection: each readiness costs one
//! `recv` and one `send` (no drain to `EAGAIN`, which level-triggering makes
//! unnecessary). A short send keeps the rest and switches the connection to `EPOLLOUT`
//! until it is flushed, so a slow reader cannot lose bytes. One 64 KiB buffer serves
//! every connection: an idle connection costs this process nothing but its slot.

use std::io;
use std::net::TcpListener;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// The token of the listening socket.
const LISTENER: u64 = u64::MAX;

/// One connection: its socket and the bytes a short send left over.
struct Conn {
    fd: OwnedFd,
    pending: Vec<u8>,
}

/// An epoll instance.
struct Epoll(OwnedFd);

impl Epoll {
    fn new() -> io::Result<Epoll> {
        // SAFETY: no pointers are involved.
        let fd = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        // SAFETY: `fd` was just returned by epoll_create1 and is owned by nobody else.
        Ok(Epoll(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    fn ctl(&self, op: i32, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event { events, u64: token };
        // SAFETY: `ev` is a valid epoll_event for the duration of the call.
        cvt(unsafe { libc::epoll_ctl(self.0.as_raw_fd(), op, fd, &mut ev) }).map(drop)
    }

    fn wait(&self, events: &mut [libc::epoll_event]) -> io::Result<usize> {
        // SAFETY: `events` is writable for `events.len()` entries.
        let n = unsafe {
            libc::epoll_wait(
                self.0.as_raw_fd(),
                events.as_mut_ptr(),
                events.len() as i32,
                -1,
            )
        };
        match cvt(n) {
            Ok(n) => Ok(n as usize),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(0),
            Err(e) => Err(e),
        }
    }
}

fn cvt(rc: i32) -> io::Result<i32> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// Serves echo on `listener` until the process is killed.
pub fn serve(listener: TcpListener) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let ep = Epoll::new()?;
    ep.ctl(
        libc::EPOLL_CTL_ADD,
        listener.as_raw_fd(),
        libc::EPOLLIN as u32,
        LISTENER,
    )?;
    let mut conns: Vec<Option<Conn>> = Vec::new();
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = ep.wait(&mut events)?;
        for ev in &events[..n] {
            let (bits, token) = (ev.events, ev.u64);
            if token == LISTENER {
                accept_all(&listener, &ep, &mut conns)?;
                continue;
            }
            let slot = token as usize;
            let Some(conn) = conns.get_mut(slot).and_then(Option::as_mut) else {
                continue;
            };
            let keep = if conn.pending.is_empty() {
                on_readable(conn, &ep, &mut buf)
            } else if bits & (libc::EPOLLOUT | libc::EPOLLERR | libc::EPOLLHUP) as u32 != 0 {
                on_writable(conn, &ep)
            } else {
                true
            };
            if !keep {
                // Closing the socket removes it from the epoll set.
                conns[slot] = None;
            }
        }
    }
}

/// Accepts every pending connection.
fn accept_all(listener: &TcpListener, ep: &Epoll, conns: &mut Vec<Option<Conn>>) -> io::Result<()> {
    loop {
        // SAFETY: null address pointers are allowed; the flags are valid.
        let fd = unsafe {
            libc::accept4(
                listener.as_raw_fd(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            )
        };
        if fd < 0 {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::EAGAIN | libc::EINTR | libc::ECONNABORTED) => Ok(()),
                Some(libc::EMFILE | libc::ENFILE) => {
                    eprintln!("raw: accept: {e}");
                    Ok(())
                }
                _ => Err(e),
            };
        }
        // SAFETY: `fd` was just returned by accept4 and is owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        crate::sys::set_nodelay(fd.as_raw_fd());
        let slot = fd.as_raw_fd() as usize;
        ep.ctl(
            libc::EPOLL_CTL_ADD,
            fd.as_raw_fd(),
            libc::EPOLLIN as u32,
            slot as u64,
        )?;
        if conns.len() <= slot {
            conns.resize_with(slot + 1, || None);
        }
        conns[slot] = Some(Conn {
            fd,
            pending: Vec::new(),
        });
    }
}

/// One recv and one send. Returns false when the connection is done.
fn on_readable(conn: &mut Conn, ep: &Epoll, buf: &mut [u8]) -> bool {
    let fd = conn.fd.as_raw_fd();
    // SAFETY: `buf` is writable for `buf.len()` bytes.
    let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n == 0 {
        return false;
    }
    if n < 0 {
        let e = io::Error::last_os_error();
        return matches!(e.raw_os_error(), Some(libc::EAGAIN | libc::EINTR));
    }
    let n = n as usize;
    let sent = send(fd, &buf[..n]);
    match sent {
        Err(_) => false,
        Ok(m) if m == n => true,
        Ok(m) => {
            conn.pending.extend_from_slice(&buf[m..n]);
            ep.ctl(libc::EPOLL_CTL_MOD, fd, libc::EPOLLOUT as u32, fd as u64)
                .is_ok()
        }
    }
}

/// Flushes what a short send left. Returns false when the connection is done.
fn on_writable(conn: &mut Conn, ep: &Epoll) -> bool {
    let fd = conn.fd.as_raw_fd();
    match send(fd, &conn.pending) {
        Err(_) => false,
        Ok(m) => {
            conn.pending.drain(..m);
            if conn.pending.is_empty() {
                ep.ctl(libc::EPOLL_CTL_MOD, fd, libc::EPOLLIN as u32, fd as u64)
                    .is_ok()
            } else {
                true
            }
        }
    }
}

/// `send` with `MSG_NOSIGNAL`; `EAGAIN` and `EINTR` are "0 bytes".
fn send(fd: RawFd, data: &[u8]) -> io::Result<usize> {
    // SAFETY: `data` is readable for `data.len()` bytes.
    let n = unsafe { libc::send(fd, data.as_ptr().cast(), data.len(), libc::MSG_NOSIGNAL) };
    if n >= 0 {
        return Ok(n as usize);
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EAGAIN | libc::EINTR) => Ok(0),
        _ => Err(e),
    }
}
