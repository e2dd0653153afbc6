//! The socket syscalls, each wrapped once; the only module of the crate (with the hyper
//! adapter) that holds `unsafe`.
//!
//! # Protocol
//!
//! - Every function takes a `BorrowedFd` (or returns an `OwnedFd`), so an fd passed to
//!   the kernel is open for the whole call: the borrow outlives the syscall.
//! - Buffers are passed as a pointer and the length of the same Rust slice, so the
//!   kernel never reads or writes past them.
//! - A socket address crosses the boundary as a [`SockAddr`]: a `sockaddr_storage` and
//!   the length the kernel filled in or is to read. Conversions check the family before
//!   reading the matching `sockaddr_in`/`sockaddr_in6`/`sockaddr_un`.
//! - A syscall that returns `-1` becomes `io::Error::last_os_error()` at once, before any
//!   other call can overwrite `errno`.
//! - Each read, write, accept, send or receive calls [`count`], which adds one to a
//!   thread-local counter in test builds and with the feature `syscall-count`, and is
//!   nothing otherwise (see `counter.rs`).

use std::ffi::OsStr;
use std::io::{self, IoSlice};
use std::mem;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use libc::{c_int, c_void, sockaddr_storage, socklen_t};

use crate::counter::count;
use reactor::cvt;

fn cvt_size(r: isize) -> io::Result<usize> {
    if r == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as usize)
    }
}

/// A socket address in the kernel's layout.
pub(crate) struct SockAddr {
    storage: sockaddr_storage,
    len: socklen_t,
}

impl SockAddr {
    fn empty() -> SockAddr {
        SockAddr {
            // SAFETY: `sockaddr_storage` is plain old data; all-zero is a valid value
            // (family AF_UNSPEC).
            storage: unsafe { mem::zeroed() },
            len: mem::size_of::<sockaddr_storage>() as socklen_t,
        }
    }

    fn as_ptr(&self) -> *const libc::sockaddr {
        (&raw const self.storage).cast()
    }

    fn as_mut_ptr(&mut self) -> *mut libc::sockaddr {
        (&raw mut self.storage).cast()
    }

    fn family(&self) -> c_int {
        c_int::from(self.storage.ss_family)
    }

    /// An address the reactor's completion I/O returned (`recvmsg`).
    pub(crate) fn from_raw((storage, len): reactor::RawSocketAddr) -> SockAddr {
        SockAddr {
            storage,
            len: len.min(mem::size_of::<sockaddr_storage>() as socklen_t),
        }
    }

    /// The address for the reactor's completion I/O (`connect`, `sendmsg`).
    pub(crate) fn as_raw(&self) -> reactor::RawSocketAddr {
        (self.storage, self.len)
    }

    /// The IP address, or an `InvalidInput` error for another family.
    pub(crate) fn to_inet(&self) -> io::Result<SocketAddr> {
        match self.family() {
            libc::AF_INET if self.len as usize >= mem::size_of::<libc::sockaddr_in>() => {
                // SAFETY: the family is AF_INET and the kernel wrote at least a whole
                // `sockaddr_in`; `sockaddr_storage` is aligned for every sockaddr type.
                let a = unsafe { &*(&raw const self.storage).cast::<libc::sockaddr_in>() };
                let ip = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
                Ok(SocketAddr::V4(SocketAddrV4::new(
                    ip,
                    u16::from_be(a.sin_port),
                )))
            }
            libc::AF_INET6 if self.len as usize >= mem::size_of::<libc::sockaddr_in6>() => {
                // SAFETY: as above, for AF_INET6 and `sockaddr_in6`.
                let a = unsafe { &*(&raw const self.storage).cast::<libc::sockaddr_in6>() };
                let ip = Ipv6Addr::from(a.sin6_addr.s6_addr);
                Ok(SocketAddr::V6(SocketAddrV6::new(
                    ip,
                    u16::from_be(a.sin6_port),
                    a.sin6_flowinfo,
                    a.sin6_scope_id,
                )))
            }
            family => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("not an IP socket address (family {family})"),
            )),
        }
    }

    /// The path of a Unix socket address; `None` for an unnamed (or abstract) one.
    pub(crate) fn to_unix_path(&self) -> Option<PathBuf> {
        if self.family() != libc::AF_UNIX {
            return None;
        }
        let offset = mem::offset_of!(libc::sockaddr_un, sun_path);
        let len = (self.len as usize).checked_sub(offset)?;
        // SAFETY: the family is AF_UNIX, so the storage holds a `sockaddr_un`.
        let un = unsafe { &*(&raw const self.storage).cast::<libc::sockaddr_un>() };
        let path = &un.sun_path[..len.min(un.sun_path.len())];
        let bytes: Vec<u8> = path.iter().map(|&c| c as u8).collect();
        match bytes.first() {
            None | Some(0) => None,
            Some(_) => {
                let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
                Some(PathBuf::from(OsStr::from_bytes(&bytes[..end])))
            }
        }
    }

    /// The kernel form of an IP socket address.
    pub(crate) fn from_inet(addr: SocketAddr) -> SockAddr {
        let mut out = SockAddr::empty();
        match addr {
            SocketAddr::V4(a) => {
                // SAFETY: `sockaddr_in` is plain old data; all-zero is valid (and zeroes
                // `sin_zero`).
                let mut sin: libc::sockaddr_in = unsafe { mem::zeroed() };
                sin.sin_family = libc::AF_INET as libc::sa_family_t;
                sin.sin_port = a.port().to_be();
                sin.sin_addr.s_addr = u32::from(*a.ip()).to_be();
                #[cfg(evloop_sa_len)]
                {
                    sin.sin_len = mem::size_of::<libc::sockaddr_in>() as u8;
                }
                // SAFETY: `sockaddr_storage` is larger than and aligned for
                // `sockaddr_in`.
                unsafe {
                    (&raw mut out.storage)
                        .cast::<libc::sockaddr_in>()
                        .write(sin)
                };
                out.len = mem::size_of::<libc::sockaddr_in>() as socklen_t;
            }
            SocketAddr::V6(a) => {
                // SAFETY: `sockaddr_in6` is plain old data; all-zero is valid.
                let mut sin6: libc::sockaddr_in6 = unsafe { mem::zeroed() };
                sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                sin6.sin6_port = a.port().to_be();
                sin6.sin6_addr.s6_addr = a.ip().octets();
                sin6.sin6_flowinfo = a.flowinfo();
                sin6.sin6_scope_id = a.scope_id();
                #[cfg(evloop_sa_len)]
                {
                    sin6.sin6_len = mem::size_of::<libc::sockaddr_in6>() as u8;
                }
                // SAFETY: `sockaddr_storage` is larger than and aligned for
                // `sockaddr_in6`.
                unsafe {
                    (&raw mut out.storage)
                        .cast::<libc::sockaddr_in6>()
                        .write(sin6)
                };
                out.len = mem::size_of::<libc::sockaddr_in6>() as socklen_t;
            }
        }
        out
    }

    /// The kernel form of a Unix socket path; `InvalidInput` when the path holds a NUL
    /// byte or does not fit in `sun_path`.
    pub(crate) fn from_unix_path(path: &Path) -> io::Result<SockAddr> {
        let bytes = path.as_os_str().as_bytes();
        let mut out = SockAddr::empty();
        // SAFETY: `sockaddr_storage` is larger than and aligned for `sockaddr_un`, and
        // zeroed storage is a valid `sockaddr_un`.
        let un = unsafe { &mut *(&raw mut out.storage).cast::<libc::sockaddr_un>() };
        if bytes.contains(&0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("Unix socket path {} contains a NUL byte", path.display()),
            ));
        }
        if bytes.len() >= un.sun_path.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "Unix socket path {} is longer than {} bytes",
                    path.display(),
                    un.sun_path.len() - 1
                ),
            ));
        }
        un.sun_family = libc::AF_UNIX as libc::sa_family_t;
        for (dst, &src) in un.sun_path.iter_mut().zip(bytes) {
            *dst = src as libc::c_char;
        }
        out.len = (mem::offset_of!(libc::sockaddr_un, sun_path) + bytes.len() + 1) as socklen_t;
        #[cfg(evloop_sa_len)]
        {
            // At most 2 + 103 bytes on these systems: `sun_path` holds 104.
            un.sun_len = out.len as u8;
        }
        Ok(out)
    }
}

#[cfg(not(evloop_apple))]
const SEND_FLAGS: c_int = libc::MSG_NOSIGNAL;
#[cfg(evloop_apple)]
const SEND_FLAGS: c_int = 0;

/// Marks `fd` non-blocking and close-on-exec, for the systems whose socket calls
/// cannot (`SOCK_NONBLOCK`, `SOCK_CLOEXEC` and `accept4` are missing there).
#[cfg(evloop_apple)]
fn set_nonblock_cloexec(fd: std::os::fd::RawFd) -> io::Result<()> {
    // SAFETY: fcntl on an fd the caller owns; F_GETFL/F_SETFL/F_SETFD take ints.
    unsafe {
        let flags = cvt(libc::fcntl(fd, libc::F_GETFL))?;
        cvt(libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK))?;
        cvt(libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC))?;
    }
    Ok(())
}

/// Sets `SO_NOSIGPIPE`, so that a write to a reset peer is `EPIPE` and not a `SIGPIPE`:
/// what `MSG_NOSIGNAL` does per call elsewhere. Every registered socket gets it, those
/// wrapped by `from_std` included.
#[cfg(evloop_apple)]
pub(crate) fn set_nosigpipe(fd: BorrowedFd<'_>) -> io::Result<()> {
    setsockopt(fd, libc::SOL_SOCKET, libc::SO_NOSIGPIPE, 1)
}

/// Turns an fd just returned by the kernel into an `OwnedFd`.
fn owned(fd: c_int) -> OwnedFd {
    // SAFETY: `fd` was just returned by a successful socket/accept call, so it is open
    // and nobody else owns it.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// A new socket, non-blocking and close-on-exec (in one syscall where the OS allows).
pub(crate) fn socket(domain: c_int, ty: c_int) -> io::Result<OwnedFd> {
    #[cfg(not(evloop_apple))]
    {
        // SAFETY: socket takes only integers.
        let fd =
            cvt(unsafe { libc::socket(domain, ty | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0) })?;
        Ok(owned(fd))
    }
    #[cfg(evloop_apple)]
    {
        // SAFETY: socket takes only integers.
        let fd = owned(cvt(unsafe { libc::socket(domain, ty, 0) })?);
        set_nonblock_cloexec(fd.as_raw_fd())?;
        Ok(fd)
    }
}

/// A connected pair of Unix sockets, non-blocking and close-on-exec.
pub(crate) fn socketpair(ty: c_int) -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as c_int; 2];
    #[cfg(not(evloop_apple))]
    let ty = ty | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    // SAFETY: `fds` has room for the two fds socketpair writes.
    cvt(unsafe { libc::socketpair(libc::AF_UNIX, ty, 0, fds.as_mut_ptr()) })?;
    let (a, b) = (owned(fds[0]), owned(fds[1]));
    #[cfg(evloop_apple)]
    {
        set_nonblock_cloexec(a.as_raw_fd())?;
        set_nonblock_cloexec(b.as_raw_fd())?;
    }
    Ok((a, b))
}

/// Binds `fd` to `addr`.
pub(crate) fn bind(fd: BorrowedFd<'_>, addr: &SockAddr) -> io::Result<()> {
    // SAFETY: `addr` points at `addr.len` valid bytes of a socket address.
    cvt(unsafe { libc::bind(fd.as_raw_fd(), addr.as_ptr(), addr.len) }).map(drop)
}

/// Marks `fd` as a listening socket.
pub(crate) fn listen(fd: BorrowedFd<'_>, backlog: i32) -> io::Result<()> {
    // SAFETY: listen takes only integers.
    cvt(unsafe { libc::listen(fd.as_raw_fd(), backlog) }).map(drop)
}

/// Starts connecting `fd` to `addr`; a non-blocking socket reports `EINPROGRESS`.
pub(crate) fn connect(fd: BorrowedFd<'_>, addr: &SockAddr) -> io::Result<()> {
    // SAFETY: `addr` points at `addr.len` valid bytes of a socket address.
    cvt(unsafe { libc::connect(fd.as_raw_fd(), addr.as_ptr(), addr.len) }).map(drop)
}

/// Accepts one connection: the new socket (non-blocking, close-on-exec) and its peer.
pub(crate) fn accept(fd: BorrowedFd<'_>) -> io::Result<(OwnedFd, SockAddr)> {
    count();
    let mut addr = SockAddr::empty();
    #[cfg(not(evloop_apple))]
    {
        let flags = libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
        // SAFETY: `addr` has room for `addr.len` bytes, and accept4 writes the length
        // it used back into `addr.len`.
        let new =
            cvt(unsafe { libc::accept4(fd.as_raw_fd(), addr.as_mut_ptr(), &mut addr.len, flags) })?;
        Ok((owned(new), addr))
    }
    #[cfg(evloop_apple)]
    {
        // SAFETY: as above, for accept.
        let new = owned(cvt(unsafe {
            libc::accept(fd.as_raw_fd(), addr.as_mut_ptr(), &mut addr.len)
        })?);
        set_nonblock_cloexec(new.as_raw_fd())?;
        Ok((new, addr))
    }
}

/// Receives into `buf` (`flags` may hold `MSG_PEEK`).
pub(crate) fn recv(fd: BorrowedFd<'_>, buf: &mut [u8], flags: c_int) -> io::Result<usize> {
    count();
    // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`.
    cvt_size(unsafe {
        libc::recv(
            fd.as_raw_fd(),
            buf.as_mut_ptr().cast::<c_void>(),
            buf.len(),
            flags,
        )
    })
}

/// Receives into possibly uninitialised memory; the first `n` bytes returned are
/// initialised afterwards.
#[cfg(feature = "hyper")]
pub(crate) fn recv_uninit(
    fd: BorrowedFd<'_>,
    buf: &mut [mem::MaybeUninit<u8>],
) -> io::Result<usize> {
    count();
    // SAFETY: the kernel writes at most `buf.len()` bytes into `buf` and never reads it.
    cvt_size(unsafe {
        libc::recv(
            fd.as_raw_fd(),
            buf.as_mut_ptr().cast::<c_void>(),
            buf.len(),
            0,
        )
    })
}

/// Sends `buf`, never raising SIGPIPE.
pub(crate) fn send(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    count();
    // SAFETY: the kernel reads at most `buf.len()` bytes from `buf`.
    cvt_size(unsafe {
        libc::send(
            fd.as_raw_fd(),
            buf.as_ptr().cast::<c_void>(),
            buf.len(),
            SEND_FLAGS,
        )
    })
}

/// The most buffers one `sendmsg` takes (`IOV_MAX` on Linux and the BSDs); callers
/// pass at most this many, and a longer list is cut here too.
pub(crate) const MAX_IOVECS: usize = 1024;

/// Sends the buffers (at most [`MAX_IOVECS`]) in one `sendmsg`, never raising SIGPIPE.
pub(crate) fn send_vectored(fd: BorrowedFd<'_>, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    count();
    // SAFETY: `msghdr` is plain old data; all-zero is valid (no name, no control data).
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    // `IoSlice` is guaranteed ABI-compatible with `iovec` on unix.
    msg.msg_iov = bufs.as_ptr().cast_mut().cast::<libc::iovec>();
    msg.msg_iovlen = bufs.len().min(MAX_IOVECS) as _;
    // SAFETY: `msg` points at `bufs.len()` iovecs, each describing a live slice the
    // kernel only reads.
    cvt_size(unsafe { libc::sendmsg(fd.as_raw_fd(), &msg, SEND_FLAGS) })
}

/// Receives one datagram and its source address.
pub(crate) fn recv_from(
    fd: BorrowedFd<'_>,
    buf: &mut [u8],
    flags: c_int,
) -> io::Result<(usize, SockAddr)> {
    count();
    let mut addr = SockAddr::empty();
    // SAFETY: the kernel writes at most `buf.len()` bytes into `buf` and at most
    // `addr.len` bytes into `addr`, then stores the address length in `addr.len`.
    let n = cvt_size(unsafe {
        libc::recvfrom(
            fd.as_raw_fd(),
            buf.as_mut_ptr().cast::<c_void>(),
            buf.len(),
            flags,
            addr.as_mut_ptr(),
            &mut addr.len,
        )
    })?;
    Ok((n, addr))
}

/// Sends one datagram to `addr`, never raising SIGPIPE.
pub(crate) fn send_to(fd: BorrowedFd<'_>, buf: &[u8], addr: &SockAddr) -> io::Result<usize> {
    count();
    // SAFETY: the kernel reads `buf.len()` bytes of `buf` and `addr.len` bytes of `addr`.
    cvt_size(unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            buf.as_ptr().cast::<c_void>(),
            buf.len(),
            SEND_FLAGS,
            addr.as_ptr(),
            addr.len,
        )
    })
}

/// Shuts down one or both directions (`SHUT_RD`, `SHUT_WR`, `SHUT_RDWR`).
pub(crate) fn shutdown(fd: BorrowedFd<'_>, how: c_int) -> io::Result<()> {
    // SAFETY: shutdown takes only integers.
    cvt(unsafe { libc::shutdown(fd.as_raw_fd(), how) }).map(drop)
}

/// The local address of `fd`.
pub(crate) fn local_addr(fd: BorrowedFd<'_>) -> io::Result<SockAddr> {
    let mut addr = SockAddr::empty();
    // SAFETY: the kernel writes at most `addr.len` bytes into `addr`.
    cvt(unsafe { libc::getsockname(fd.as_raw_fd(), addr.as_mut_ptr(), &mut addr.len) })?;
    Ok(addr)
}

/// The peer address of `fd`.
pub(crate) fn peer_addr(fd: BorrowedFd<'_>) -> io::Result<SockAddr> {
    let mut addr = SockAddr::empty();
    // SAFETY: the kernel writes at most `addr.len` bytes into `addr`.
    cvt(unsafe { libc::getpeername(fd.as_raw_fd(), addr.as_mut_ptr(), &mut addr.len) })?;
    Ok(addr)
}

/// Sets an integer socket option.
pub(crate) fn setsockopt(
    fd: BorrowedFd<'_>,
    level: c_int,
    name: c_int,
    value: c_int,
) -> io::Result<()> {
    setsockopt_raw(fd, level, name, &value)
}

fn setsockopt_raw<T>(fd: BorrowedFd<'_>, level: c_int, name: c_int, value: &T) -> io::Result<()> {
    // SAFETY: `value` points at `size_of::<T>()` readable bytes.
    cvt(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (value as *const T).cast::<c_void>(),
            mem::size_of::<T>() as socklen_t,
        )
    })
    .map(drop)
}

fn getsockopt_raw<T: Copy>(
    fd: BorrowedFd<'_>,
    level: c_int,
    name: c_int,
    init: T,
) -> io::Result<T> {
    let mut value = init;
    let mut len = mem::size_of::<T>() as socklen_t;
    // SAFETY: `value` has room for `len` bytes, and the kernel writes at most that many.
    cvt(unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&raw mut value).cast::<c_void>(),
            &mut len,
        )
    })?;
    Ok(value)
}

/// Reads an integer socket option.
pub(crate) fn getsockopt(fd: BorrowedFd<'_>, level: c_int, name: c_int) -> io::Result<c_int> {
    getsockopt_raw(fd, level, name, 0 as c_int)
}

/// Sets `IP_TTL`; a value outside `1..=255` is `InvalidInput`, naming it.
pub(crate) fn set_ttl(fd: BorrowedFd<'_>, ttl: u32) -> io::Result<()> {
    if !(1..=255).contains(&ttl) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("IP time-to-live {ttl} is outside 1..=255"),
        ));
    }
    setsockopt(fd, libc::IPPROTO_IP, libc::IP_TTL, ttl as c_int)
}

/// Reads `IP_TTL`.
pub(crate) fn ttl(fd: BorrowedFd<'_>) -> io::Result<u32> {
    Ok(getsockopt(fd, libc::IPPROTO_IP, libc::IP_TTL)?.max(0) as u32)
}

/// The pending socket error (`SO_ERROR`), which reading clears.
pub(crate) fn take_error(fd: BorrowedFd<'_>) -> io::Result<Option<io::Error>> {
    let e = getsockopt(fd, libc::SOL_SOCKET, libc::SO_ERROR)?;
    Ok((e != 0).then(|| io::Error::from_raw_os_error(e)))
}

/// Sets `SO_LINGER`: `None` turns it off; `Some(0)` makes close send a reset.
pub(crate) fn set_linger(fd: BorrowedFd<'_>, secs: Option<u64>) -> io::Result<()> {
    let linger = libc::linger {
        l_onoff: c_int::from(secs.is_some()),
        l_linger: secs.unwrap_or(0).min(c_int::MAX as u64) as c_int,
    };
    setsockopt_raw(fd, libc::SOL_SOCKET, libc::SO_LINGER, &linger)
}

/// Reads `SO_LINGER`, in whole seconds.
pub(crate) fn linger(fd: BorrowedFd<'_>) -> io::Result<Option<u64>> {
    let l = getsockopt_raw(
        fd,
        libc::SOL_SOCKET,
        libc::SO_LINGER,
        libc::linger {
            l_onoff: 0,
            l_linger: 0,
        },
    )?;
    Ok((l.l_onoff != 0).then_some(l.l_linger.max(0) as u64))
}
