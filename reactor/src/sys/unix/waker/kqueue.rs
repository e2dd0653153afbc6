//! kqueue's wakeup: an `EVFILT_USER` event on the kqueue itself, triggered by the
//! notifier (no descriptor of its own).

use std::io;
use std::os::fd::OwnedFd;
use std::sync::Arc;

use crate::event::NOTIFY_TOKEN;
use crate::sys::unix::kevent::{apply, kevent};

/// The kqueue whose `EVFILT_USER` event (ident 0, carrying [`NOTIFY_TOKEN`]) the
/// backend added with `EV_CLEAR`.
pub(crate) struct User(pub(crate) Arc<OwnedFd>);

impl User {
    /// Fires the event with `NOTE_TRIGGER`, from any thread.
    pub(crate) fn trigger(&self) -> io::Result<()> {
        let ev = kevent(0, libc::EVFILT_USER, 0, libc::NOTE_TRIGGER, NOTIFY_TOKEN);
        apply(&self.0, &mut [ev], &[])
    }
}
