//! The provided buffers of the io_uring backend: one buffer ring (`IORING_REGISTER_PBUF_RING`)
//! of fixed-size buffers that every multishot receive of the reactor draws from.
//!
//! # Who owns a buffer
//!
//! Each buffer is, at any time, in exactly one of three hands:
//!
//! | owner     | how it got there                                   | what may touch it        |
//! |-----------|----------------------------------------------------|--------------------------|
//! | kernel    | [`BufRing::recycle`], then [`BufRing::publish`]    | the kernel alone         |
//! | a socket  | a completion carrying its id ([`BufRing::taken`])  | [`BufRing::bytes`], once |
//! | returning | [`BufRing::recycle`], not yet published            | nobody                   |
//!
//! User space reads a buffer only between the completion that hands it over and the
//! `recycle` that gives it back; the kernel writes one only between `publish` and the
//! completion. In debug builds a table of owners checks every transition and panics on a
//! double hand-over, a recycle of a buffer nobody holds, or a read of a buffer the
//! kernel may be writing: the ownership checker that stands in for valgrind, which does
//! not know io_uring.
//!
//! The memory (the ring of entries and the buffers) is mapped here and unmapped on drop;
//! the driver never drops it while the kernel may still write to it (it leaks it then).

use std::cell::Cell;
use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU16, Ordering};

/// The buffer group id of the reactor's ring.
pub(crate) const GROUP: u16 = 0;

/// One ring entry, as the kernel lays out `struct io_uring_buf`. The `resv` field of
/// entry 0 is the ring's tail.
#[repr(C)]
struct Entry {
    addr: u64,
    len: u32,
    bid: u16,
    resv: u16,
}

const _: () = assert!(std::mem::size_of::<Entry>() == 16);

/// Who holds a buffer (debug builds only).
#[cfg(debug_assertions)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Owner {
    Kernel,
    Socket,
    Returning,
}

/// An anonymous private mapping, unmapped on drop unless leaked.
struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

impl Mapping {
    fn new(len: usize) -> io::Result<Mapping> {
        // SAFETY: an anonymous private mapping of `len` bytes at an address the kernel
        // chooses; no existing memory is affected.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(ptr.cast()).ok_or_else(|| io::Error::other("mmap returned null"))?;
        Ok(Mapping { ptr, len })
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr` and `len` are those of a mapping made by `Mapping::new` and not
        // unmapped since (a leaked ring is never dropped).
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// The ring and its buffers.
pub(crate) struct BufRing {
    /// Invariant: `count` entries, page-aligned, mapped while `self` lives.
    ring: Mapping,
    /// Invariant: `count` buffers of `size` bytes, mapped while `self` lives.
    data: Mapping,
    count: u16,
    size: u32,
    /// The next entry to fill (our tail, published to the kernel by `publish`).
    tail: Cell<u16>,
    /// The tail the kernel has seen.
    published: Cell<u16>,
    /// How many buffers the kernel can pick: published, and not yet handed back.
    in_kernel: Cell<u32>,
    /// How many buffers have been recycled, ever: lets a starved receive wait for one.
    recycled: Cell<u64>,
    #[cfg(debug_assertions)]
    owners: Box<[Cell<Owner>]>,
}

impl BufRing {
    /// Maps `count` (a power of two, at most 32768) buffers of `size` bytes, every one
    /// queued for the kernel (published once [`register`](BufRing::register)ed).
    pub(crate) fn new(count: u16, size: u32) -> io::Result<BufRing> {
        assert!(
            count.is_power_of_two() && count <= 1 << 15,
            "bad buffer count {count}"
        );
        let ring = Mapping::new(usize::from(count) * std::mem::size_of::<Entry>())?;
        let data = Mapping::new(usize::from(count) * size as usize)?;
        let bufs = BufRing {
            ring,
            data,
            count,
            size,
            tail: Cell::new(0),
            published: Cell::new(0),
            in_kernel: Cell::new(0),
            recycled: Cell::new(0),
            #[cfg(debug_assertions)]
            owners: (0..count).map(|_| Cell::new(Owner::Returning)).collect(),
        };
        for bid in 0..count {
            bufs.push(bid);
        }
        Ok(bufs)
    }

    /// The ring's address and entry count, for `IORING_REGISTER_PBUF_RING`.
    pub(crate) fn ring_addr(&self) -> (u64, u16) {
        (self.ring.ptr.as_ptr() as u64, self.count)
    }

    #[inline]
    fn entry(&self, index: u16) -> *mut Entry {
        let i = usize::from(index & (self.count - 1));
        // SAFETY: `i < count`, and the ring mapping holds `count` entries.
        unsafe { self.ring.ptr.as_ptr().cast::<Entry>().add(i) }
    }

    /// Writes buffer `bid` at the tail; the kernel sees it after `publish`.
    #[inline]
    fn push(&self, bid: u16) {
        let tail = self.tail.get();
        let e = self.entry(tail);
        // SAFETY: the buffer's address is inside the data mapping (`bid < count`).
        let addr = unsafe {
            self.data
                .ptr
                .as_ptr()
                .add(usize::from(bid) * self.size as usize)
        };
        // SAFETY: `e` points into the ring mapping. The kernel reads entries only from
        // its head to the published tail, and this entry is past the published tail.
        // The fields are written one by one: `resv` of entry 0 is the tail, which only
        // `publish` writes.
        unsafe {
            std::ptr::addr_of_mut!((*e).addr).write(addr as u64);
            std::ptr::addr_of_mut!((*e).len).write(self.size);
            std::ptr::addr_of_mut!((*e).bid).write(bid);
        }
        self.tail.set(tail.wrapping_add(1));
    }

    /// Gives buffer `bid`, held by a socket, back to the ring.
    #[inline]
    pub(crate) fn recycle(&self, bid: u16) {
        #[cfg(debug_assertions)]
        self.transition(bid, Owner::Socket, Owner::Returning);
        self.push(bid);
        self.recycled.set(self.recycled.get() + 1);
    }

    /// Makes every recycled buffer visible to the kernel (before each submission).
    pub(crate) fn publish(&self) {
        let tail = self.tail.get();
        let fresh = tail.wrapping_sub(self.published.get());
        if fresh == 0 {
            return;
        }
        #[cfg(debug_assertions)]
        for k in 0..fresh {
            // SAFETY: the entry at `published + k` was written by `push`.
            let bid = unsafe { (*self.entry(self.published.get().wrapping_add(k))).bid };
            self.transition(bid, Owner::Returning, Owner::Kernel);
        }
        // SAFETY: entry 0's `resv` field is the ring's tail (`struct io_uring_buf_ring`),
        // a 2-aligned u16 in our mapping; the kernel reads it with acquire semantics, so
        // the release store publishes the entries written before it.
        let tail_field = unsafe { &*std::ptr::addr_of!((*self.entry(0)).resv).cast::<AtomicU16>() };
        tail_field.store(tail, Ordering::Release);
        self.published.set(tail);
        self.in_kernel.set(self.in_kernel.get() + u32::from(fresh));
    }

    /// Records that a completion handed buffer `bid` over to user space.
    #[inline]
    pub(crate) fn taken(&self, bid: u16) {
        assert!(
            bid < self.count,
            "the kernel handed over buffer {bid} of {}",
            self.count
        );
        #[cfg(debug_assertions)]
        self.transition(bid, Owner::Kernel, Owner::Socket);
        self.in_kernel.set(self.in_kernel.get().saturating_sub(1));
    }

    /// The first `len` bytes of buffer `bid`, from `start`, which a socket holds.
    #[inline]
    pub(crate) fn bytes(&self, bid: u16, start: usize, len: usize) -> &[u8] {
        assert!(
            bid < self.count && start + len <= self.size as usize,
            "buffer {bid} range {start}+{len} is outside the ring"
        );
        #[cfg(debug_assertions)]
        assert_eq!(
            self.owners[usize::from(bid)].get(),
            Owner::Socket,
            "buffer {bid} read while not held by a socket"
        );
        // SAFETY: the range is inside buffer `bid` of the data mapping (checked above),
        // and a socket holds the buffer: the kernel does not write it until it is
        // recycled and published again, which needs `&self` and so ends this borrow's
        // use first (callers copy out before recycling).
        unsafe {
            std::slice::from_raw_parts(
                self.data
                    .ptr
                    .as_ptr()
                    .add(usize::from(bid) * self.size as usize + start),
                len,
            )
        }
    }

    /// How many buffers the ring has.
    pub(crate) fn count(&self) -> u16 {
        self.count
    }

    /// How many buffers the kernel can pick now.
    pub(crate) fn available(&self) -> u32 {
        self.in_kernel.get()
    }

    /// How many buffers were ever recycled.
    pub(crate) fn recycled(&self) -> u64 {
        self.recycled.get()
    }

    #[cfg(debug_assertions)]
    fn transition(&self, bid: u16, from: Owner, to: Owner) {
        let owner = &self.owners[usize::from(bid)];
        assert_eq!(
            owner.get(),
            from,
            "buffer {bid}: expected owner {from:?} before it goes to {to:?}"
        );
        owner.set(to);
    }
}
