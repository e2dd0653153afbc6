//! `Readiness`: the bits the driver sets on a registration.

use std::fmt;
use std::ops::{BitAnd, BitOr, BitOrAssign, Not};

/// A set of readiness bits for one registration.
///
/// The reactor's driver sets bits as the backend reports events; an I/O call that
/// gets `WouldBlock` clears the direction it used. The closed bits are sticky: once a
/// direction is closed it stays closed for the life of the registration.
#[derive(Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Readiness(u8);

impl Readiness {
    /// No bits set.
    pub const EMPTY: Readiness = Readiness(0);
    /// The fd can be read without blocking.
    pub const READABLE: Readiness = Readiness(1);
    /// The fd can be written without blocking.
    pub const WRITABLE: Readiness = Readiness(1 << 1);
    /// The peer closed its write side (EOF on read, `EPOLLRDHUP`).
    pub const READ_CLOSED: Readiness = Readiness(1 << 2);
    /// Writing can no longer succeed (`EPOLLHUP`, or `EV_EOF` on the write filter).
    pub const WRITE_CLOSED: Readiness = Readiness(1 << 3);
    /// The fd reported an error condition (`EPOLLERR`, `POLLERR`, `POLLNVAL`, or
    /// `EV_EOF` with a socket error on kqueue).
    pub const ERROR: Readiness = Readiness(1 << 4);
    /// The reactor was dropped: no event will ever arrive. It replaces every other bit
    /// of each registration the reactor still had, and stays; I/O on such a
    /// registration fails (see [`Registration`](crate::Registration)).
    pub const SHUTDOWN: Readiness = Readiness(1 << 5);
    /// The registration moves its bytes by completion (a socket registered with
    /// [`Handle::register_socket`](crate::Handle::register_socket) on the io_uring
    /// backend): no readiness bit is ever set on it, and its I/O goes through
    /// [`Completion`](crate::Completion). The reactor's drop replaces it with
    /// `SHUTDOWN`, as every other bit.
    pub const COMPLETION: Readiness = Readiness(1 << 6);

    /// Every bit that makes a reader proceed.
    pub const READ_INTEREST: Readiness = Readiness(1 | (1 << 2) | (1 << 4));
    /// Every bit that makes a writer proceed.
    pub const WRITE_INTEREST: Readiness = Readiness((1 << 1) | (1 << 3) | (1 << 4));
    /// `SHUTDOWN` or `COMPLETION`: the registration does not wait for readiness. Checked
    /// once, on the way to `Pending`, so that the ready path pays nothing for either.
    pub(crate) const SPECIAL: Readiness = Readiness((1 << 5) | (1 << 6));

    /// True when no bit is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// True when every bit of `other` is set in `self`.
    pub const fn contains(self, other: Readiness) -> bool {
        self.0 & other.0 == other.0
    }

    /// True when `self` and `other` share a bit.
    pub const fn intersects(self, other: Readiness) -> bool {
        self.0 & other.0 != 0
    }

    /// True when `READABLE` is set.
    pub const fn is_readable(self) -> bool {
        self.intersects(Readiness::READABLE)
    }

    /// True when `WRITABLE` is set.
    pub const fn is_writable(self) -> bool {
        self.intersects(Readiness::WRITABLE)
    }

    /// True when `READ_CLOSED` is set.
    pub const fn is_read_closed(self) -> bool {
        self.intersects(Readiness::READ_CLOSED)
    }

    /// True when `WRITE_CLOSED` is set.
    pub const fn is_write_closed(self) -> bool {
        self.intersects(Readiness::WRITE_CLOSED)
    }

    /// True when `ERROR` is set.
    pub const fn is_error(self) -> bool {
        self.intersects(Readiness::ERROR)
    }

    /// True when `SHUTDOWN` is set: the registration's reactor was dropped.
    pub const fn is_shutdown(self) -> bool {
        self.intersects(Readiness::SHUTDOWN)
    }

    /// True when `COMPLETION` is set: the registration moves bytes by completion.
    pub const fn is_completion(self) -> bool {
        self.intersects(Readiness::COMPLETION)
    }

    /// The raw bits.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// The readiness with these raw bits, as [`bits`](Readiness::bits) gives them: the
    /// two round-trip.
    ///
    /// ```
    /// use reactor::Readiness;
    /// let r = Readiness::READABLE | Readiness::READ_CLOSED;
    /// assert_eq!(Readiness::from_bits(r.bits()), r);
    /// ```
    pub const fn from_bits(bits: u8) -> Readiness {
        Readiness(bits)
    }
}

impl BitOr for Readiness {
    type Output = Readiness;
    fn bitor(self, rhs: Readiness) -> Readiness {
        Readiness(self.0 | rhs.0)
    }
}

impl BitOrAssign for Readiness {
    fn bitor_assign(&mut self, rhs: Readiness) {
        self.0 |= rhs.0;
    }
}

impl BitAnd for Readiness {
    type Output = Readiness;
    fn bitand(self, rhs: Readiness) -> Readiness {
        Readiness(self.0 & rhs.0)
    }
}

impl Not for Readiness {
    type Output = Readiness;
    fn not(self) -> Readiness {
        Readiness(!self.0)
    }
}

impl fmt::Debug for Readiness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [(Readiness, &str); 7] = [
            (Readiness::READABLE, "READABLE"),
            (Readiness::WRITABLE, "WRITABLE"),
            (Readiness::READ_CLOSED, "READ_CLOSED"),
            (Readiness::WRITE_CLOSED, "WRITE_CLOSED"),
            (Readiness::ERROR, "ERROR"),
            (Readiness::SHUTDOWN, "SHUTDOWN"),
            (Readiness::COMPLETION, "COMPLETION"),
        ];
        let mut first = true;
        for (bit, name) in NAMES {
            if self.contains(bit) {
                if !first {
                    f.write_str(" | ")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        if first {
            f.write_str("EMPTY")?;
        }
        Ok(())
    }
}
