//! The provided buffers as a shared resource: the [`BufRing`] every receive draws from,
//! the sockets holding some of its buffers, and the receives that `ENOBUFS` stopped
//! until buffers come back. The driver owns one `Pool`; its flush calls
//! [`Pool::rebalance`].

use std::cell::{Cell, RefCell};
use std::io;
use std::mem::ManuallyDrop;
use std::rc::Rc;

use super::bufs::BufRing;
use super::socket::Socket;
use super::{Driver, Sq};

pub(crate) struct Pool {
    /// Invariant: registered with the ring as group [`GROUP`](super::bufs::GROUP) while
    /// the ring is open; dropped by the driver's drop, after the ring is closed.
    pub(super) bufs: ManuallyDrop<BufRing>,
    /// Receives stopped by `ENOBUFS`, and how many buffers had been recycled then.
    starved: RefCell<Vec<Rc<Socket>>>,
    starved_at: Cell<u64>,
    /// How many receives `ENOBUFS` stopped, ever.
    starvations: Cell<u64>,
    /// Sockets that got ring buffers since the last spill (some may hold none now), and
    /// the length past which the list is pruned.
    holders: RefCell<Vec<Rc<Socket>>>,
    holders_limit: Cell<usize>,
}

impl Pool {
    pub(super) fn new(bufs: BufRing) -> Pool {
        Pool {
            bufs: ManuallyDrop::new(bufs),
            starved: RefCell::new(Vec::new()),
            starved_at: Cell::new(0),
            starvations: Cell::new(0),
            holders: RefCell::new(Vec::new()),
            holders_limit: Cell::new(64),
        }
    }

    /// Notes a socket that holds ring buffers, for the next spill.
    pub(crate) fn hold(&self, socket: Rc<Socket>) {
        self.holders.borrow_mut().push(socket);
    }

    /// Parks a receive stopped by `ENOBUFS` until a buffer is recycled.
    pub(crate) fn starve(&self, socket: Rc<Socket>) {
        self.starvations.set(self.starvations.get() + 1);
        let mut starved = self.starved.borrow_mut();
        if starved.is_empty() {
            self.starved_at.set(self.bufs.recycled());
        }
        starved.push(socket);
    }

    /// How many receives `ENOBUFS` stopped, ever.
    pub(super) fn starvations(&self) -> u64 {
        self.starvations.get()
    }

    /// Part of the flush: prunes the holders, and while receives are starved (and the
    /// reactor is not `closing`) takes the buffers back from every socket that holds
    /// some (their bytes move to the sockets' own buffers), so that readers who do not
    /// read cannot starve those who do; once buffers came back, re-arms the starved
    /// receives.
    pub(super) fn rebalance(&self, d: &Driver, sq: &mut Sq<'_>, closing: bool) -> io::Result<()> {
        if self.holders.borrow().len() > self.holders_limit.get() {
            // Amortised: the list is pruned each time it doubles.
            let mut holders = self.holders.borrow_mut();
            holders.retain(|socket| socket.holds());
            self.holders_limit.set((2 * holders.len()).max(64));
        }
        if closing || self.starved.borrow().is_empty() {
            return Ok(());
        }
        let holders = std::mem::take(&mut *self.holders.borrow_mut());
        for socket in holders {
            socket.spill(d);
        }
        if self.bufs.recycled() != self.starved_at.get() {
            let starved = std::mem::take(&mut *self.starved.borrow_mut());
            for socket in starved {
                socket.unstarve(sq)?;
            }
        }
        Ok(())
    }

    /// The reactor is going away: the sockets are no longer tracked (their states live
    /// on while the kernel holds references).
    pub(super) fn forget_sockets(&self) {
        self.starved.borrow_mut().clear();
        self.holders.borrow_mut().clear();
    }
}
