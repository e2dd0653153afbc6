//! The epoll backend (Linux, Android).
//!
//! Every fd is added once with `EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET` and removed
//! once. Waits use `epoll_pwait2` (nanosecond timeout) when the kernel has it: the first
//! wait tries it, and an `ENOSYS` (or `EPERM` from a seccomp filter) switches the whole
//! process to `epoll_wait` with the timeout rounded up to the next millisecond, so a
//! wait never ends before its deadline. The notifier is an eventfd.
//!
//! A wait leaves the kernel's `epoll_event`s in the facade's buffer; the facade
//! normalises each one ([`readiness`]) as it dispatches it, and calls
//! `drain_notifier` when the eventfd's event is among them.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use super::waker::{Signal, eventfd};
use crate::Readiness;
use crate::errors::{already_registered, invalid_fd, not_registered};
use crate::event::{Interest, NOTIFY_TOKEN};
use crate::source::RawSource;
use crate::sys::{Config, Selector, cvt, timeout_ms, timespec};

/// 0: not probed yet; 1: `epoll_pwait2` works; 2: it does not.
static PWAIT2: AtomicU8 = AtomicU8::new(0);

/// Whether this process waits with `epoll_pwait2` (nanosecond timeouts). `None` until the
/// first timed wait has probed the kernel.
pub(crate) fn has_pwait2() -> Option<bool> {
    match PWAIT2.load(Ordering::Relaxed) {
        1 => Some(true),
        2 => Some(false),
        _ => None,
    }
}

#[derive(Debug)]
pub(crate) struct Epoll {
    /// Invariant: an open epoll instance for the life of `self`.
    epfd: OwnedFd,
    /// The eventfd the notifier writes; registered level-triggered under `NOTIFY_TOKEN`.
    eventfd: OwnedFd,
}

impl Selector for Epoll {
    type Events = Vec<libc::epoll_event>;
    const EDGE_TRIGGERED: bool = true;

    fn open(_: &Config) -> io::Result<(Epoll, Signal)> {
        // SAFETY: epoll_create1 takes only flags; on success it returns a new fd we own.
        let epfd = unsafe { OwnedFd::from_raw_fd(cvt(libc::epoll_create1(libc::EPOLL_CLOEXEC))?) };
        let (eventfd, signal) = eventfd::new(true)?;
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: NOTIFY_TOKEN,
        };
        // SAFETY: both fds are open (owned above) and `ev` is a valid epoll_event.
        cvt(unsafe {
            libc::epoll_ctl(
                epfd.as_raw_fd(),
                libc::EPOLL_CTL_ADD,
                eventfd.as_raw_fd(),
                &mut ev,
            )
        })?;
        Ok((Epoll { epfd, eventfd }, signal))
    }

    fn register(&mut self, fd: RawSource, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32,
            u64: token,
        };
        // SAFETY: epfd is open (field invariant); the kernel validates `fd` and reports
        // EBADF for a closed one; `ev` is a valid epoll_event.
        match cvt(unsafe {
            libc::epoll_ctl(self.epfd.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev)
        }) {
            Ok(_) => Ok(()),
            Err(e) => Err(match e.raw_os_error() {
                Some(libc::EBADF) => invalid_fd(fd),
                Some(libc::EEXIST) => already_registered(fd),
                Some(libc::EPERM) => io::Error::new(
                    io::ErrorKind::Unsupported,
                    format!("cannot register fd {fd}: epoll does not support this kind of file"),
                ),
                _ => e,
            }),
        }
    }

    fn deregister(&mut self, fd: RawSource) -> io::Result<()> {
        let mut ev = libc::epoll_event { events: 0, u64: 0 };
        // SAFETY: epfd is open (field invariant); a non-null event pointer keeps old
        // kernels happy; the kernel validates `fd`.
        match cvt(unsafe {
            libc::epoll_ctl(self.epfd.as_raw_fd(), libc::EPOLL_CTL_DEL, fd, &mut ev)
        }) {
            Ok(_) => Ok(()),
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::EBADF)) => {
                Err(not_registered(fd))
            }
            Err(e) => Err(e),
        }
    }

    /// Waits, then leaves the events in `buf` (cleared first), at most `capacity`.
    fn select(
        &mut self,
        buf: &mut Self::Events,
        capacity: usize,
        timeout: Option<Duration>,
        _: &dyn Fn(u64) -> Interest,
    ) -> io::Result<()> {
        buf.clear();
        if buf.capacity() < capacity {
            buf.reserve_exact(capacity);
        }
        let max = capacity.min(libc::c_int::MAX as usize) as libc::c_int;
        let n = self.epoll_wait(buf.as_mut_ptr(), max, timeout)?;
        // SAFETY: the kernel initialised the first `n` entries (n <= max <= capacity),
        // and `epoll_event` is plain data.
        unsafe { buf.set_len(n) };
        Ok(())
    }

    /// Reads the eventfd, so that it is not reported again until the next notification.
    fn drain_notifier(&mut self) {
        let mut value: u64 = 0;
        // SAFETY: the eventfd is open (owned by self); we read exactly 8 bytes into a u64.
        // A failure (EAGAIN when already drained) needs no handling.
        let _ = unsafe { libc::read(self.eventfd.as_raw_fd(), (&mut value as *mut u64).cast(), 8) };
    }
}

impl Epoll {
    /// `epoll_pwait2` or `epoll_wait` into `ptr`, which has room for `max` events.
    fn epoll_wait(
        &mut self,
        ptr: *mut libc::epoll_event,
        max: libc::c_int,
        timeout: Option<Duration>,
    ) -> io::Result<usize> {
        let epfd = self.epfd.as_raw_fd();
        // Zero and infinite timeouts need no precision: use the plain call.
        let precise =
            matches!(timeout, Some(d) if !d.is_zero() && d.subsec_nanos() % 1_000_000 != 0);
        if precise && PWAIT2.load(Ordering::Relaxed) != 2 {
            let ts = timespec(timeout.unwrap_or_default());
            // SAFETY: epfd is open; `ptr` points to `max` writable epoll_events (the
            // caller reserved them); `ts` lives across the call; a null sigmask means "keep the
            // current mask", and the sigset size is then ignored.
            let ret = unsafe {
                libc::syscall(
                    libc::SYS_epoll_pwait2,
                    epfd,
                    ptr,
                    max,
                    &ts as *const libc::timespec,
                    std::ptr::null::<libc::sigset_t>(),
                    0usize,
                )
            };
            if ret >= 0 {
                PWAIT2.store(1, Ordering::Relaxed);
                return Ok(ret as usize);
            }
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::ENOSYS | libc::EPERM) => PWAIT2.store(2, Ordering::Relaxed),
                _ => return Err(err),
            }
        }
        // SAFETY: as above; the timeout is in milliseconds, rounded up.
        let n = cvt(unsafe { libc::epoll_wait(epfd, ptr, max, timeout_ms(timeout)) })?;
        Ok(n as usize)
    }
}

/// The normalised readiness of an event's bits (see the contract in `sys/mod.rs`): one
/// table lookup for `EPOLLIN`, `EPOLLPRI`, `EPOLLOUT`, `EPOLLERR` and `EPOLLHUP`, the
/// five low bits, and one test for `EPOLLRDHUP`. The notifier's event is readable.
#[inline(always)]
pub(crate) fn readiness(bits: u32) -> Readiness {
    let mut r = Readiness::from_bits(LOW_BITS[(bits & 0x1f) as usize]);
    if bits & libc::EPOLLRDHUP as u32 != 0 {
        r |= Readiness::READABLE | Readiness::READ_CLOSED;
    }
    r
}

const _: () = assert!(
    libc::EPOLLIN | libc::EPOLLPRI | libc::EPOLLOUT | libc::EPOLLERR | libc::EPOLLHUP == 0x1f,
    "the table covers the five low event bits"
);

/// The readiness of each combination of the five low epoll bits.
static LOW_BITS: [u8; 32] = {
    let mut table = [0u8; 32];
    let mut bits = 0;
    while bits < 32 {
        table[bits] = readiness_slow(bits as u32).bits();
        bits += 1;
    }
    table
};

/// The normalisation, bit by bit: what the table is built from.
const fn readiness_slow(bits: u32) -> Readiness {
    let bits = bits as libc::c_int;
    let mut r = 0;
    if bits & (libc::EPOLLIN | libc::EPOLLPRI) != 0 {
        r |= Readiness::READABLE.bits();
    }
    if bits & libc::EPOLLOUT != 0 {
        r |= Readiness::WRITABLE.bits();
    }
    if bits & libc::EPOLLRDHUP != 0 {
        r |= Readiness::READABLE.bits() | Readiness::READ_CLOSED.bits();
    }
    if bits & libc::EPOLLHUP != 0 {
        r |= Readiness::READABLE.bits()
            | Readiness::WRITABLE.bits()
            | Readiness::READ_CLOSED.bits()
            | Readiness::WRITE_CLOSED.bits();
    }
    if bits & libc::EPOLLERR != 0 {
        r |= Readiness::READABLE.bits() | Readiness::WRITABLE.bits() | Readiness::ERROR.bits();
    }
    Readiness::from_bits(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_agrees_with_the_bit_by_bit_normalisation() {
        let all = [
            libc::EPOLLIN,
            libc::EPOLLPRI,
            libc::EPOLLOUT,
            libc::EPOLLERR,
            libc::EPOLLHUP,
            libc::EPOLLRDHUP,
        ];
        for mask in 0..1u32 << all.len() {
            let bits = all
                .iter()
                .enumerate()
                .filter(|(i, _)| mask & (1 << i) != 0)
                .fold(0, |acc, (_, b)| acc | *b as u32);
            assert_eq!(readiness(bits), readiness_slow(bits), "bits {bits:#x}");
        }
        assert_eq!(
            readiness(libc::EPOLLIN as u32 | libc::EPOLLOUT as u32),
            Readiness::READABLE | Readiness::WRITABLE
        );
        assert_eq!(
            readiness(libc::EPOLLHUP as u32),
            Readiness::READABLE
                | Readiness::WRITABLE
                | Readiness::READ_CLOSED
                | Readiness::WRITE_CLOSED
        );
    }
}
