//! A per-thread cache of small heap blocks, for the cells that a channel makes and frees
//! once per message (`oneshot`): taking a block from this cache and giving it back costs a
//! fraction of `malloc` and `free`.
//!
//! The protocol:
//!
//! - A type whose layout fits a *class* (at most 256 bytes, alignment at most 16) is given
//!   a block of the class's layout (64, 128 or 256 bytes, aligned to 16), from the
//!   thread's cache or, when that is empty, from the global allocator. Any other type gets
//!   a block of its own layout from the global allocator.
//! - [`free`] takes back a block that [`alloc`] gave for the same type, whose value the
//!   caller has already dropped. The block goes into the freeing thread's cache (up to
//!   [`KEEP`] per class; beyond that, and once the thread's cache is gone at thread exit,
//!   back to the global allocator, with the same class layout it was allocated with).
//! - A cached block is uninitialised memory that the cache alone owns. The thread's cache
//!   frees its blocks when the thread exits.

use std::alloc::{self, Layout};
use std::cell::RefCell;
use std::ptr::NonNull;

/// The block sizes; every block is aligned to [`ALIGN`].
const CLASSES: [usize; 3] = [64, 128, 256];
const ALIGN: usize = 16;

/// The most blocks a thread keeps per class.
const KEEP: usize = 64;

struct Cache {
    free: [Vec<NonNull<u8>>; CLASSES.len()],
}

impl Drop for Cache {
    fn drop(&mut self) {
        for (class, blocks) in self.free.iter_mut().enumerate() {
            for block in blocks.drain(..) {
                // SAFETY: a cached block was allocated with its class's layout and is
                // owned by the cache alone (module protocol).
                unsafe { alloc::dealloc(block.as_ptr(), class_layout(class)) };
            }
        }
    }
}

thread_local! {
    static CACHE: RefCell<Cache> = const {
        RefCell::new(Cache {
            free: [Vec::new(), Vec::new(), Vec::new()],
        })
    };
}

/// The class of a layout, if it fits one.
const fn class_of(layout: Layout) -> Option<usize> {
    if layout.align() > ALIGN {
        return None;
    }
    let mut class = 0;
    while class < CLASSES.len() {
        if layout.size() <= CLASSES[class] {
            return Some(class);
        }
        class += 1;
    }
    None
}

fn class_layout(class: usize) -> Layout {
    match Layout::from_size_align(CLASSES[class], ALIGN) {
        Ok(layout) => layout,
        Err(_) => unreachable!("the classes are valid layouts"),
    }
}

/// The layout a block for `T` has: its class's, or its own.
fn block_layout<T>() -> Layout {
    match class_of(Layout::new::<T>()) {
        Some(class) => class_layout(class),
        None => Layout::new::<T>(),
    }
}

/// Uninitialised memory for one `T`, which must not be zero-sized. Give it back with
/// [`free`].
pub(crate) fn alloc<T>() -> NonNull<T> {
    const { assert!(size_of::<T>() > 0, "blocks are for types with a size") };
    if let Some(class) = const { class_of(Layout::new::<T>()) } {
        let cached = CACHE
            .try_with(|cache| cache.borrow_mut().free[class].pop())
            .ok()
            .flatten();
        if let Some(block) = cached {
            return block.cast();
        }
    }
    let layout = block_layout::<T>();
    // SAFETY: the layout's size is not zero (`T` has a size, and classes are larger).
    let block = unsafe { alloc::alloc(layout) };
    match NonNull::new(block) {
        Some(block) => block.cast(),
        None => alloc::handle_alloc_error(layout),
    }
}

/// Gives back a block.
///
/// # Safety
///
/// `block` came from [`alloc::<T>`](alloc) and was not given back since, and the `T` in it,
/// if one was written, has been dropped or moved out.
pub(crate) unsafe fn free<T>(block: NonNull<T>) {
    let block = block.cast::<u8>();
    if let Some(class) = const { class_of(Layout::new::<T>()) } {
        let kept = CACHE.try_with(|cache| {
            let mut cache = cache.borrow_mut();
            let blocks = &mut cache.free[class];
            if blocks.len() < KEEP {
                blocks.push(block);
                true
            } else {
                false
            }
        });
        if kept == Ok(true) {
            return;
        }
    }
    // SAFETY: `block` was allocated with `block_layout::<T>()` (caller's contract), and
    // is no longer used.
    unsafe { alloc::dealloc(block.as_ptr(), block_layout::<T>()) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_freed_block_is_reused_by_the_next_alloc_of_its_class() {
        let a = alloc::<[u64; 4]>();
        // SAFETY: `a` is a fresh block for `[u64; 4]`; nothing is written.
        unsafe { free(a) };
        // A type of another size in the same class gets the same block back.
        let b = alloc::<[u8; 48]>();
        assert_eq!(a.cast::<u8>(), b.cast::<u8>());
        // SAFETY: written once, read back, then the block is given back.
        unsafe {
            b.write([7; 48]);
            assert_eq!(b.read(), [7; 48]);
            free(b);
        }
    }

    #[test]
    fn large_and_overaligned_types_use_the_global_allocator() {
        #[repr(align(64))]
        struct Aligned(u8);
        assert_eq!(class_of(Layout::new::<[u8; 300]>()), None);
        assert_eq!(class_of(Layout::new::<Aligned>()), None);
        let big = alloc::<[u8; 300]>();
        let aligned = alloc::<Aligned>();
        assert_eq!(aligned.as_ptr() as usize % 64, 0);
        // SAFETY: fresh blocks of these types, written and read once, given back once.
        unsafe {
            aligned.write(Aligned(5));
            assert_eq!(aligned.read().0, 5);
            free(big);
            free(aligned);
        }
    }

    #[test]
    fn the_cache_keeps_a_bounded_number_of_blocks() {
        let blocks: Vec<_> = (0..KEEP * 2).map(|_| alloc::<[u8; 100]>()).collect();
        for block in blocks {
            // SAFETY: each block came from `alloc` and is given back once.
            unsafe { free(block) };
        }
        let kept = CACHE.with(|cache| cache.borrow().free[1].len());
        assert!(kept <= KEEP, "{kept}");
    }
}
