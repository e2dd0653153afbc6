//! The counters a backend reports.

/// The io_uring backend's counters ([`Reactor::uring_stats`](crate::Reactor::uring_stats)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UringStats {
    /// Operations submitted whose last completion has not arrived.
    pub in_flight: u64,
    /// The provided buffers the ring has.
    pub buffers: u16,
    /// How many of them the kernel can fill now (the others hold bytes not read yet).
    pub buffers_in_kernel: u32,
    /// How many times a receive stopped because every buffer was taken (`ENOBUFS`); it
    /// goes on once one is read.
    pub starved_receives: u64,
}
