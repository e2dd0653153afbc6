//! What a completion is for: the `user_data` of every submission of the io_uring backend.
//!
//! A `user_data` word is an address with an operation kind in its four low bits. For
//! the operations of a socket (and of a poll registration, and of a datagram send) the
//! address is that of an `Rc` allocation whose strong reference the submission took
//! with `Rc::into_raw`: the kernel holds that reference until the operation's last
//! completion (the one without `IORING_CQE_F_MORE`), where [`reclaim`] takes it back.
//! So the state an operation writes into, or reads from, cannot be freed while the
//! operation is in flight, whoever else drops it; and a completion can never name a
//! newer owner of the same memory. The notifier's read and cancellations carry no
//! address.
//!
//! Every type whose address travels this way is `#[repr(align(16))]`, which frees the
//! four low bits.

use std::rc::Rc;

/// The kinds of operation, in the low bits of `user_data`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Kind {
    /// The read of the notifier's eventfd.
    Notify = 1,
    /// A cancellation or a poll removal: only its completion is counted.
    Cancel = 2,
    /// A multishot poll of a readiness registration (`PollEntry`).
    Poll = 3,
    /// A socket's multishot receive into the provided buffers.
    Recv = 4,
    /// A socket's send of its staged bytes.
    Send = 5,
    /// A listener's multishot accept.
    Accept = 6,
    /// A socket's connect.
    Connect = 7,
    /// A datagram socket's `recvmsg`.
    DgramRecv = 8,
    /// One datagram's `sendmsg` (`DgramSend`).
    DgramSend = 9,
    /// A socket's deferred `shutdown(SHUT_WR)`.
    Shutdown = 10,
}

const KIND_BITS: u64 = 0xF;

impl Kind {
    /// The kind a `user_data` word carries; `None` for a word this backend never made.
    #[inline]
    pub(crate) fn of(user_data: u64) -> Option<Kind> {
        const KINDS: [Option<Kind>; 16] = {
            let mut kinds = [None; 16];
            let all = [
                Kind::Notify,
                Kind::Cancel,
                Kind::Poll,
                Kind::Recv,
                Kind::Send,
                Kind::Accept,
                Kind::Connect,
                Kind::DgramRecv,
                Kind::DgramSend,
                Kind::Shutdown,
            ];
            let mut i = 0;
            while i < all.len() {
                kinds[all[i] as usize] = Some(all[i]);
                i += 1;
            }
            kinds
        };
        KINDS[(user_data & KIND_BITS) as usize]
    }

    /// Whether `user_data` carries this kind.
    #[inline(always)]
    pub(crate) fn tags(self, user_data: u64) -> bool {
        user_data & KIND_BITS == self as u64
    }

    /// A word with no address (the notifier, cancellations).
    pub(crate) fn bare(self) -> u64 {
        self as u64
    }
}

/// The `user_data` of an operation of `owner`, taking a strong reference for the kernel.
/// Every word made here must reach [`reclaim`] exactly once, at the operation's last
/// completion.
pub(crate) fn submit<T>(owner: &Rc<T>, kind: Kind) -> u64 {
    let ptr = Rc::into_raw(owner.clone()) as u64;
    debug_assert_eq!(ptr & KIND_BITS, 0, "owner types are 16-aligned");
    ptr | kind as u64
}

/// The `user_data` of an operation of `owner` that is already in flight (to cancel it),
/// without taking a reference.
pub(crate) fn target<T>(owner: &Rc<T>, kind: Kind) -> u64 {
    Rc::as_ptr(owner) as u64 | kind as u64
}

/// The owner of an operation, borrowed from the kernel's reference: for a completion that
/// is not the operation's last.
///
/// # Safety
///
/// `user_data` was made by [`submit`] with a `T` and has not been reclaimed; the
/// reference lives as long as the kernel's, so the caller must not reclaim while it
/// holds the result.
pub(crate) unsafe fn borrow<'a, T>(user_data: u64) -> &'a T {
    let ptr = (user_data & !KIND_BITS) as *const T;
    // SAFETY: per the contract, `ptr` came from `Rc::into_raw` of a live `Rc<T>` whose
    // strong reference the kernel still holds.
    unsafe { &*ptr }
}

/// Takes back the kernel's reference of an operation at its last completion.
///
/// # Safety
///
/// `user_data` was made by [`submit`] with a `T`, and this is the one call that reclaims
/// it (the operation's completion without `IORING_CQE_F_MORE`).
pub(crate) unsafe fn reclaim<T>(user_data: u64) -> Rc<T> {
    let ptr = (user_data & !KIND_BITS) as *const T;
    // SAFETY: per the contract, `ptr` came from `Rc::into_raw` and the strong reference
    // it stands for is given back once, here.
    unsafe { Rc::from_raw(ptr) }
}
