//! What a backend's wait yields, and what the level-triggered one asks for: the event
//! vocabulary shared by the facade and every backend.

use std::time::Duration;

use crate::Readiness;

/// The token the notifier's events carry. Slab tokens never reach it: their index is
/// below `u32::MAX`.
pub(crate) const NOTIFY_TOKEN: u64 = u64::MAX;

/// Longest single wait, as libevent's `MAX_EPOLL_TIMEOUT_MSEC` (35 minutes); longer and
/// infinite-but-capped waits are split by the facade.
pub(crate) const MAX_WAIT: Duration = Duration::from_secs(35 * 60);

/// One normalised event: a registration's token and the readiness it gained.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Event {
    pub(crate) token: u64,
    pub(crate) readiness: Readiness,
}

/// What a registration is waiting for; only the level-triggered poll backend asks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Interest {
    pub(crate) read: bool,
    pub(crate) write: bool,
}
