//! `CancellationToken`: ask tasks to stop, and wait for the request.

use std::fmt;
use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use super::tree::Node;

/// A request to stop, shared by everyone who holds a clone.
///
/// [`cancel`](CancellationToken::cancel) it once, from any clone and on any thread, and
/// every task awaiting [`cancelled`](CancellationToken::cancelled) on any clone wakes.
/// [`child_token`](CancellationToken::child_token) makes a token that is cancelled with
/// its parent, but whose own cancel does not reach the parent: a server cancels the
/// root to stop everything, a connection cancels its child to stop itself.
///
/// It is `Send + Sync` (unlike the tasks of a loop), so another thread or another loop
/// can cancel it, and the waiting loop wakes through its notifier. It does not need a
/// runtime: any executor can await it.
///
/// ```
/// use runtime::sync::CancellationToken;
///
/// # runtime::Runtime::new()?.block_on(async {
/// let token = CancellationToken::new();
/// let worker = runtime::spawn({
///     let token = token.child_token();
///     async move {
///         let mut rounds = 0;
///         while !token.is_cancelled() {
///             rounds += 1;
///             runtime::yield_now().await;
///         }
///         rounds
///     }
/// });
/// runtime::yield_now().await;
/// token.cancel();
/// assert!(worker.await.unwrap() >= 1);
/// # });
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// All tokens made from one [`new`](CancellationToken::new) share one lock, taken to
/// cancel, to make or drop a child, to drop the last clone of a token, and the first
/// time a [`WaitForCancellationFuture`] waits (polling it again with the same waker, or
/// checking [`is_cancelled`](CancellationToken::is_cancelled), takes no lock). Threads
/// that each make many short-lived children do better with a tree of their own, whose
/// root they cancel when a shared token is cancelled.
pub struct CancellationToken {
    /// Counted in `node.handles` (see the tree's protocol).
    node: Arc<Node>,
}

impl CancellationToken {
    /// A new token, not cancelled, with no parent.
    pub fn new() -> CancellationToken {
        CancellationToken {
            node: Node::new_root(),
        }
    }

    /// A new token that is cancelled when this one is (already cancelled if this one is),
    /// and whose own cancel leaves this one alone.
    ///
    /// Dropping every clone of the child removes it from its parent, so a long-lived
    /// token can give out any number of short-lived children.
    pub fn child_token(&self) -> CancellationToken {
        CancellationToken {
            node: self.node.child(),
        }
    }

    /// Cancels this token and all its children (and theirs), and wakes every task that
    /// waits on them. Cancelling again does nothing.
    pub fn cancel(&self) {
        self.node.cancel();
    }

    /// Whether this token was cancelled, by its own `cancel` or by an ancestor's.
    #[inline]
    pub fn is_cancelled(&self) -> bool {
        self.node.is_cancelled()
    }

    /// Waits until the token is cancelled (at once if it is already).
    ///
    /// The future is cancel-safe: dropping it only removes its waker.
    pub fn cancelled(&self) -> WaitForCancellationFuture<'_> {
        WaitForCancellationFuture {
            token: self,
            waiter: Waiter::default(),
        }
    }

    /// Like [`cancelled`](CancellationToken::cancelled), but owning the token, so the
    /// future is `'static` and can be moved into a task.
    pub fn cancelled_owned(self) -> WaitForCancellationFutureOwned {
        WaitForCancellationFutureOwned {
            token: self,
            waiter: Waiter::default(),
        }
    }

    /// A guard that cancels the token when dropped, unless it is
    /// [`disarm`](DropGuard::disarm)ed first: for example, to stop a token's workers
    /// whichever way a function returns.
    pub fn drop_guard(self) -> DropGuard {
        DropGuard { token: Some(self) }
    }

    /// Runs `future` until it completes (`Some(output)`) or the token is cancelled
    /// (`None`, and the future is dropped). If both are ready at once, the cancel wins.
    pub async fn run_until_cancelled<F: Future>(&self, future: F) -> Option<F::Output> {
        let mut cancelled = pin!(self.cancelled());
        let mut future = pin!(future);
        std::future::poll_fn(|cx| {
            if cancelled.as_mut().poll(cx).is_ready() {
                return Poll::Ready(None);
            }
            future.as_mut().poll(cx).map(Some)
        })
        .await
    }
}

impl Default for CancellationToken {
    fn default() -> CancellationToken {
        CancellationToken::new()
    }
}

impl Clone for CancellationToken {
    /// Another handle to the same token: cancelling either cancels both.
    fn clone(&self) -> CancellationToken {
        self.node.retain();
        CancellationToken {
            node: self.node.clone(),
        }
    }
}

impl Drop for CancellationToken {
    fn drop(&mut self) {
        self.node.release();
    }
}

impl fmt::Debug for CancellationToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancellationToken")
            .field("is_cancelled", &self.is_cancelled())
            .finish()
    }
}

/// One waiting future's registration: its key in the node's waiters, and a clone of
/// the waker registered there, to see without the lock whether a poll must replace it.
#[derive(Default)]
struct Waiter {
    key: Option<usize>,
    waker: Option<Waker>,
}

impl Waiter {
    /// The fast path, inlined into the caller: a load, and a comparison of wakers.
    #[inline]
    fn poll(&mut self, node: &Node, cx: &mut Context<'_>) -> Poll<()> {
        if node.is_cancelled() {
            // The cancel takes (or took) every waker of the node in the same critical
            // section as it set the flag: nothing is left to deregister.
            self.key = None;
            return Poll::Ready(());
        }
        if self.key.is_some() && self.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            // Registered with this waker: a cancel after the check above wakes it.
            return Poll::Pending;
        }
        self.register(node, cx)
    }

    /// Registers `cx`'s waker, under the tree's lock.
    #[inline(never)]
    fn register(&mut self, node: &Node, cx: &mut Context<'_>) -> Poll<()> {
        match node.register(self.key, cx.waker()) {
            Some(key) => {
                self.key = Some(key);
                self.waker = Some(cx.waker().clone());
                Poll::Pending
            }
            None => {
                // Cancelled meanwhile; the cancel took any earlier registration.
                self.key = None;
                Poll::Ready(())
            }
        }
    }

    fn drop(&mut self, node: &Node) {
        if let Some(key) = self.key.take() {
            node.deregister(key);
        }
    }
}

/// The future of [`CancellationToken::cancelled`]: ready once the token is cancelled.
#[must_use = "futures do nothing unless awaited"]
pub struct WaitForCancellationFuture<'a> {
    token: &'a CancellationToken,
    waiter: Waiter,
}

impl Future for WaitForCancellationFuture<'_> {
    type Output = ();

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        this.waiter.poll(&this.token.node, cx)
    }
}

impl Drop for WaitForCancellationFuture<'_> {
    fn drop(&mut self) {
        self.waiter.drop(&self.token.node);
    }
}

impl fmt::Debug for WaitForCancellationFuture<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitForCancellationFuture")
            .field("is_cancelled", &self.token.is_cancelled())
            .finish()
    }
}

/// The future of [`CancellationToken::cancelled_owned`]: ready once the token is
/// cancelled.
#[must_use = "futures do nothing unless awaited"]
pub struct WaitForCancellationFutureOwned {
    token: CancellationToken,
    waiter: Waiter,
}

impl Future for WaitForCancellationFutureOwned {
    type Output = ();

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        this.waiter.poll(&this.token.node, cx)
    }
}

impl Drop for WaitForCancellationFutureOwned {
    fn drop(&mut self) {
        self.waiter.drop(&self.token.node);
    }
}

impl fmt::Debug for WaitForCancellationFutureOwned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitForCancellationFutureOwned")
            .field("is_cancelled", &self.token.is_cancelled())
            .finish()
    }
}

/// Cancels its token when dropped; made by [`CancellationToken::drop_guard`].
///
/// ```
/// use runtime::sync::CancellationToken;
///
/// let token = CancellationToken::new();
/// {
///     let _guard = token.clone().drop_guard();
/// }
/// assert!(token.is_cancelled());
///
/// let token = CancellationToken::new();
/// let kept = token.clone().drop_guard().disarm();
/// assert!(!token.is_cancelled() && !kept.is_cancelled());
/// ```
#[must_use = "dropping the guard at once cancels its token"]
pub struct DropGuard {
    token: Option<CancellationToken>,
}

impl DropGuard {
    /// The guarded token.
    pub fn token(&self) -> &CancellationToken {
        match &self.token {
            Some(token) => token,
            None => unreachable!("a DropGuard has its token until dropped or disarmed"),
        }
    }

    /// Gives the token back without cancelling it.
    pub fn disarm(mut self) -> CancellationToken {
        match self.token.take() {
            Some(token) => token,
            None => unreachable!("a DropGuard has its token until dropped or disarmed"),
        }
    }
}

impl Drop for DropGuard {
    fn drop(&mut self) {
        if let Some(token) = &self.token {
            token.cancel();
        }
    }
}

impl fmt::Debug for DropGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DropGuard")
            .field("token", &self.token)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropped_children_leave_no_node_behind() {
        let root = CancellationToken::new();
        for _ in 0..10_000 {
            let child = root.child_token();
            let grandchild = child.child_token();
            drop(child);
            drop(grandchild);
        }
        assert_eq!(root.node.tree_size().0, 1);
        assert!(root.node.tree_size().1 <= 3, "{:?}", root.node.tree_size());
        assert_eq!(root.node.children(), 0);
    }

    #[test]
    fn a_grandchild_outliving_its_parent_moves_up() {
        let root = CancellationToken::new();
        let child = root.child_token();
        let grandchild = child.child_token();
        drop(child);
        assert_eq!(root.node.children(), 1);
        assert_eq!(root.node.tree_size().0, 2);
        root.cancel();
        assert!(grandchild.is_cancelled());
    }
}
