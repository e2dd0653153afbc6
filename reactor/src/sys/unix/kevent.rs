//! kqueue's change records, and applying them: shared by the kqueue backend and its
//! `EVFILT_USER` wakeup.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

use crate::sys::cvt;

/// A change or event record.
pub(crate) fn kevent(
    ident: usize,
    filter: i16,
    flags: u16,
    fflags: u32,
    udata: u64,
) -> libc::kevent {
    // SAFETY: kevent is plain data; all-zero is a valid value for every field.
    let mut ev: libc::kevent = unsafe { std::mem::zeroed() };
    ev.ident = ident as _;
    ev.filter = filter as _;
    ev.flags = flags as _;
    ev.fflags = fflags as _;
    ev.udata = udata as _;
    ev
}

/// Applies `changes` with `EV_RECEIPT`, so that each one reports its own outcome, and
/// returns the first error not in `ignored` (errno values).
pub(crate) fn apply(
    kq: &OwnedFd,
    changes: &mut [libc::kevent],
    ignored: &[libc::c_int],
) -> io::Result<()> {
    for change in changes.iter_mut() {
        change.flags |= libc::EV_RECEIPT;
    }
    let ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    let len = changes.len() as libc::c_int;
    let ptr = changes.as_mut_ptr();
    // SAFETY: kq is open (the caller's invariant); `ptr` points to `len` initialised
    // kevents, used as the changelist and as room for as many receipts: with
    // `EV_RECEIPT` the kernel writes exactly one receipt per change, in order, receipt
    // `i` after reading change `i` and into entry `i`, so no change is overwritten
    // before it is read. The zero timeout means the call does not block.
    match cvt(unsafe { libc::kevent(kq.as_raw_fd(), ptr, len, ptr, len, &ts) }) {
        Ok(_) => {}
        // kqueue(2): on EINTR every change has been applied, and no receipt written.
        Err(e) if e.raw_os_error() == Some(libc::EINTR) => return Ok(()),
        Err(e) => return Err(e),
    }
    for receipt in changes.iter() {
        // A receipt's `data` is 0 or an errno value.
        let errno = receipt.data as libc::c_int;
        if receipt.flags & libc::EV_ERROR != 0 && errno != 0 && !ignored.contains(&errno) {
            return Err(io::Error::from_raw_os_error(errno));
        }
    }
    Ok(())
}
