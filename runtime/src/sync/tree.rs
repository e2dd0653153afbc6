//! The tree behind [`CancellationToken`](super::CancellationToken): nodes, their
//! parents and children, and the wakers waiting on each.
//!
//! # Protocol
//!
//! Every token made from one [`CancellationToken::new`](super::CancellationToken::new)
//! (its clones, its children, their children) shares one [`Tree`]: a slab of [`Slot`]s
//! behind one `Mutex`. One lock per tree keeps the invariants below simple to hold:
//! a cancel, a child's creation, a waiter's registration and a node's removal each happen
//! under it, in one order.
//!
//! A [`Node`] is what a token points to (its clones point to the same node). It knows
//! its slot (`id`, immutable), counts the tokens that point to it (`handles`), and has a
//! `cancelled` flag that is written only under the lock and read without it.
//!
//! Invariants, under the lock:
//!
//! 1. A node is cancelled only if every node of its subtree is: `cancel` marks the whole
//!    subtree, and a child made under a cancelled parent starts cancelled. So `cancel`
//!    stops at nodes already cancelled.
//! 2. A slot's `waiters` is empty once its node is cancelled: `cancel` takes every waker
//!    (and wakes them after the lock is released), and a waiter registers only after
//!    seeing, under the lock, that the node is not cancelled. So no wakeup is lost.
//! 3. A slot lives while its node has a token (`handles > 0`). Every waiter borrows or
//!    owns a token, so a waiter's slot exists. When the last token goes, the slot is
//!    removed: it leaves its parent's `children`, and its own children move to its
//!    parent (or become roots), so a grandparent's cancel still reaches them. So a
//!    tree holds exactly the nodes that have tokens: creating and dropping children
//!    leaves no garbage.
//!
//! The slot holds a counted reference to its node only to set the node's `cancelled`
//! flag during a cancel; that reference is given back at removal.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::Waker;

/// What a token points to.
pub(super) struct Node {
    tree: Arc<Tree>,
    /// The node's slot in `tree`. Immutable.
    id: usize,
    /// Written under the tree's lock (invariant 1), read without it.
    cancelled: AtomicBool,
    /// How many tokens point to this node.
    handles: AtomicUsize,
}

/// The slab of one token tree, behind its lock.
struct Tree {
    nodes: Mutex<Nodes>,
}

struct Nodes {
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
}

struct Slot {
    node: Arc<Node>,
    parent: Option<usize>,
    /// This slot's index in its parent's `children`.
    pos: usize,
    children: Vec<usize>,
    waiters: Waiters,
}

/// The wakers of the tasks waiting for one node's cancellation, by key.
#[derive(Default)]
struct Waiters {
    wakers: Vec<Option<Waker>>,
    free: Vec<usize>,
}

impl Node {
    /// The root of a new tree, with one token.
    pub(super) fn new_root() -> Arc<Node> {
        let tree = Arc::new(Tree {
            nodes: Mutex::new(Nodes {
                slots: Vec::new(),
                free: Vec::new(),
            }),
        });
        let mut nodes = tree.lock();
        let node = nodes.insert(&tree, None, false);
        drop(nodes);
        node
    }

    /// Whether the node was cancelled.
    #[inline]
    pub(super) fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }

    /// A new child of this node, with one token; cancelled already if this node is.
    pub(super) fn child(&self) -> Arc<Node> {
        let mut nodes = self.tree.lock();
        let cancelled = self.is_cancelled();
        // A cancelled child needs no link: nothing can change it any more.
        let parent = (!cancelled).then_some(self.id);
        nodes.insert(&self.tree, parent, cancelled)
    }

    /// Counts one more token.
    pub(super) fn retain(&self) {
        self.handles.fetch_add(1, Ordering::Relaxed);
    }

    /// Gives up one token; the last one removes the node from its tree (invariant 3).
    pub(super) fn release(&self) {
        if self.handles.fetch_sub(1, Ordering::AcqRel) != 1 {
            return;
        }
        let removed = self.tree.lock().remove(self.id);
        // Dropped after the lock: the slot's reference to this node.
        drop(removed);
    }

    /// Cancels this node and its subtree, then wakes every task waiting on them.
    pub(super) fn cancel(&self) {
        if self.is_cancelled() {
            return;
        }
        let mut woken = Vec::new();
        {
            let mut nodes = self.tree.lock();
            let mut stack = vec![self.id];
            while let Some(id) = stack.pop() {
                let slot = nodes.slot_mut(id);
                if slot.node.is_cancelled() {
                    continue; // so is its subtree (invariant 1)
                }
                slot.node.cancelled.store(true, Ordering::Release);
                woken.extend(slot.waiters.wakers.drain(..).flatten());
                slot.waiters.free.clear();
                stack.extend_from_slice(&slot.children);
            }
        }
        for waker in woken {
            waker.wake();
        }
    }

    /// Registers `waker` to be woken by the cancel, under `key` (replacing the waker
    /// there) or a new key. Returns `None` if the node is cancelled already.
    pub(super) fn register(&self, key: Option<usize>, waker: &Waker) -> Option<usize> {
        // Cloned (and, below, the replaced one dropped) outside the lock: a waker's code
        // is foreign and may come back to this tree.
        let waker = Some(waker.clone());
        let mut nodes = self.tree.lock();
        if self.is_cancelled() {
            drop(nodes);
            return None;
        }
        let waiters = &mut nodes.slot_mut(self.id).waiters;
        let key = match key {
            Some(key) => key,
            None => match waiters.free.pop() {
                Some(key) => key,
                None => {
                    waiters.wakers.push(None);
                    waiters.wakers.len() - 1
                }
            },
        };
        let old = std::mem::replace(&mut waiters.wakers[key], waker);
        drop(nodes);
        drop(old);
        Some(key)
    }

    /// Removes the waker registered under `key`, unless the cancel took it already.
    pub(super) fn deregister(&self, key: usize) {
        let mut nodes = self.tree.lock();
        if self.is_cancelled() {
            return; // the cancel took every waker (invariant 2)
        }
        let waiters = &mut nodes.slot_mut(self.id).waiters;
        let old = waiters.wakers[key].take();
        waiters.free.push(key);
        drop(nodes);
        drop(old);
    }
}

impl Tree {
    fn lock(&self) -> MutexGuard<'_, Nodes> {
        // No foreign code runs under the lock (wakers are cloned, woken and dropped
        // outside it), and nothing else there can panic with the tree half-changed but
        // an allocation failure, which aborts: so a poisoned lock still guards a
        // consistent tree.
        self.nodes.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Nodes {
    fn slot_mut(&mut self, id: usize) -> &mut Slot {
        match self.slots.get_mut(id) {
            Some(Some(slot)) => slot,
            // A node's slot lives while it has a token (invariant 3).
            _ => unreachable!("a live cancellation token lost its slot"),
        }
    }

    /// Adds a node under `parent` (a live slot), with one token.
    fn insert(&mut self, tree: &Arc<Tree>, parent: Option<usize>, cancelled: bool) -> Arc<Node> {
        let id = match self.free.pop() {
            Some(id) => id,
            None => {
                self.slots.push(None);
                self.slots.len() - 1
            }
        };
        let node = Arc::new(Node {
            tree: tree.clone(),
            id,
            cancelled: AtomicBool::new(cancelled),
            handles: AtomicUsize::new(1),
        });
        let pos = match parent {
            Some(p) => {
                let children = &mut self.slot_mut(p).children;
                children.push(id);
                children.len() - 1
            }
            None => 0,
        };
        self.slots[id] = Some(Slot {
            node: node.clone(),
            parent,
            pos,
            children: Vec::new(),
            waiters: Waiters::default(),
        });
        node
    }

    /// Removes the slot `id`, moving its children to its parent. Returns the slot's
    /// reference to its node, for the caller to drop after the lock.
    fn remove(&mut self, id: usize) -> Arc<Node> {
        let Some(slot) = self.slots[id].take() else {
            unreachable!("a cancellation token's slot was removed twice");
        };
        self.free.push(id);
        debug_assert!(
            slot.waiters.wakers.iter().all(Option::is_none),
            "a waiter outlived every token of its node"
        );
        if let Some(parent) = slot.parent {
            self.unlink(parent, slot.pos);
        }
        for child in slot.children {
            let pos = match slot.parent {
                Some(parent) => {
                    let siblings = &mut self.slot_mut(parent).children;
                    siblings.push(child);
                    siblings.len() - 1
                }
                None => 0,
            };
            let moved = self.slot_mut(child);
            moved.parent = slot.parent;
            moved.pos = pos;
        }
        slot.node
    }

    /// Removes the child at `pos` of `parent`'s children, in O(1).
    fn unlink(&mut self, parent: usize, pos: usize) {
        let children = &mut self.slot_mut(parent).children;
        children.swap_remove(pos);
        if let Some(&moved) = children.get(pos) {
            self.slot_mut(moved).pos = pos;
        }
    }

    /// How many nodes the tree holds (for the tests).
    #[cfg(test)]
    fn live(&self) -> usize {
        self.slots.iter().filter(|s| s.is_some()).count()
    }
}

#[cfg(test)]
impl Node {
    /// How many nodes this node's tree holds, and how many slots it has allocated.
    pub(super) fn tree_size(&self) -> (usize, usize) {
        let nodes = self.tree.lock();
        (nodes.live(), nodes.slots.len())
    }

    /// How many children this node has.
    pub(super) fn children(&self) -> usize {
        self.tree.lock().slot_mut(self.id).children.len()
    }
}
