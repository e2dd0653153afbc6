//! The local primitives of `runtime::sync`: ordering, closing, dropped halves, cancelled
//! waiters that pass their wake on, a panicking task that holds a guard, and
//! backpressure. Most tests poll futures by hand with a counting waker (no reactor).

use std::future::Future;
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use runtime::sync::{Mutex, Notify, RwLock, Semaphore, mpsc, oneshot, watch};
use runtime::{Runtime, spawn, yield_now};

/// A waker that counts its wakes.
#[derive(Default)]
struct Counter(AtomicUsize);

impl Wake for Counter {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn counter() -> (Arc<Counter>, Waker) {
    let c = Arc::new(Counter::default());
    (c.clone(), Waker::from(c))
}

fn wakes(c: &Counter) -> usize {
    c.0.load(Ordering::SeqCst)
}

fn poll<F: Future>(fut: Pin<&mut F>, waker: &Waker) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(waker))
}

#[test]
fn mpsc_keeps_order_and_ends_when_senders_drop() {
    Runtime::new().unwrap().block_on(async {
        let (tx, mut rx) = mpsc::channel(3);
        let tx2 = tx.clone();
        let a = spawn(async move {
            for i in 0..50 {
                tx.send(i).await.unwrap();
            }
        });
        let mut got = Vec::new();
        for _ in 0..50 {
            got.push(rx.recv().await.unwrap());
        }
        a.await.unwrap();
        assert_eq!(got, (0..50).collect::<Vec<_>>());
        assert_eq!(rx.try_recv(), Err(mpsc::error::TryRecvError::Empty));
        drop(tx2);
        assert_eq!(rx.recv().await, None);
        assert_eq!(rx.try_recv(), Err(mpsc::error::TryRecvError::Disconnected));
    });
}

#[test]
fn mpsc_bounded_applies_backpressure() {
    let (tx, mut rx) = mpsc::channel(2);
    tx.try_send(1).unwrap();
    tx.try_send(2).unwrap();
    assert!(matches!(
        tx.try_send(3),
        Err(mpsc::error::TrySendError::Full(3))
    ));
    assert_eq!(tx.capacity(), 0);
    let (c, waker) = counter();
    let mut send = pin!(tx.send(3));
    assert!(poll(send.as_mut(), &waker).is_pending());
    // A waiting sender comes before a later try_send, even once a slot is free.
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(wakes(&c), 1);
    assert!(matches!(
        tx.try_send(4),
        Err(mpsc::error::TrySendError::Full(4))
    ));
    assert_eq!(poll(send.as_mut(), &waker), Poll::Ready(Ok(())));
    assert_eq!(rx.try_recv(), Ok(2));
    assert_eq!(rx.try_recv(), Ok(3));
    assert_eq!(tx.capacity(), 2);
}

#[test]
fn mpsc_cancelled_sender_passes_its_slot_on() {
    let (tx, mut rx) = mpsc::channel(1);
    tx.try_send(0).unwrap();
    let (ca, wa) = counter();
    let (cb, wb) = counter();
    let mut a = Box::pin(tx.send(1));
    let mut b = pin!(tx.send(2));
    assert!(poll(a.as_mut(), &wa).is_pending());
    assert!(poll(b.as_mut(), &wb).is_pending());
    assert_eq!(rx.try_recv(), Ok(0));
    // The free slot went to `a`; `a` is dropped before it sees it.
    assert_eq!((wakes(&ca), wakes(&cb)), (1, 0));
    drop(a);
    assert_eq!(wakes(&cb), 1);
    assert_eq!(poll(b.as_mut(), &wb), Poll::Ready(Ok(())));
    assert_eq!(rx.try_recv(), Ok(2));
}

#[test]
fn mpsc_receiver_drop_fails_senders_and_wakes_waiters() {
    let (tx, rx) = mpsc::channel(1);
    tx.try_send(String::from("kept")).unwrap();
    let (c, waker) = counter();
    let mut send = pin!(tx.send(String::from("waiting")));
    assert!(poll(send.as_mut(), &waker).is_pending());
    drop(rx);
    assert_eq!(wakes(&c), 1);
    match poll(send.as_mut(), &waker) {
        Poll::Ready(Err(mpsc::error::SendError(v))) => assert_eq!(v, "waiting"),
        other => panic!("expected the value back, got {other:?}"),
    }
    assert!(tx.is_closed());
    assert!(matches!(
        tx.try_send(String::new()),
        Err(mpsc::error::TrySendError::Closed(_))
    ));
}

#[test]
fn mpsc_close_keeps_buffered_messages() {
    Runtime::new().unwrap().block_on(async {
        let (tx, mut rx) = mpsc::channel(4);
        tx.send(1).await.unwrap();
        tx.send(2).await.unwrap();
        rx.close();
        assert!(tx.send(3).await.is_err());
        tx.closed().await;
        assert_eq!(rx.recv().await, Some(1));
        assert_eq!(rx.recv().await, Some(2));
        assert_eq!(rx.recv().await, None);
    });
}

#[test]
fn mpsc_recv_wakes_on_send_and_on_last_sender_drop() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (c, waker) = counter();
    {
        let mut recv = pin!(rx.recv());
        assert!(poll(recv.as_mut(), &waker).is_pending());
        tx.send(7).unwrap();
        assert_eq!(wakes(&c), 1);
        assert_eq!(poll(recv.as_mut(), &waker), Poll::Ready(Some(7)));
    }
    let tx2 = tx.clone();
    let mut recv = pin!(rx.recv());
    assert!(poll(recv.as_mut(), &waker).is_pending());
    drop(tx);
    assert_eq!(wakes(&c), 1, "a sender remains");
    drop(tx2);
    assert_eq!(wakes(&c), 2);
    assert_eq!(poll(recv.as_mut(), &waker), Poll::Ready(None));
}

#[test]
fn unbounded_send_fails_after_receiver_drop() {
    let (tx, rx) = mpsc::unbounded_channel();
    for i in 0..1000 {
        tx.send(i).unwrap();
    }
    assert_eq!(rx.len(), 1000);
    drop(rx);
    assert_eq!(tx.send(5), Err(mpsc::error::SendError(5)));
}

#[test]
fn mpsc_dropped_receiver_drops_buffered_values() {
    let value = Rc::new(());
    let (tx, rx) = mpsc::channel(2);
    tx.try_send(value.clone()).unwrap();
    assert_eq!(Rc::strong_count(&value), 2);
    drop(rx);
    assert_eq!(Rc::strong_count(&value), 1);
}

#[test]
fn oneshot_delivers_and_reports_dropped_halves() {
    let (tx, mut rx) = oneshot::channel();
    assert_eq!(rx.try_recv(), Err(oneshot::error::TryRecvError::Empty));
    let (c, waker) = counter();
    let mut rx = pin!(rx);
    assert!(poll(rx.as_mut(), &waker).is_pending());
    tx.send(5).unwrap();
    assert_eq!(wakes(&c), 1);
    assert_eq!(poll(rx.as_mut(), &waker), Poll::Ready(Ok(5)));

    let (tx, rx) = oneshot::channel::<u8>();
    let mut rx = pin!(rx);
    assert!(poll(rx.as_mut(), &waker).is_pending());
    drop(tx);
    assert_eq!(wakes(&c), 2);
    assert!(matches!(poll(rx.as_mut(), &waker), Poll::Ready(Err(_))));

    let (tx, rx) = oneshot::channel();
    assert!(!tx.is_closed());
    drop(rx);
    assert!(tx.is_closed());
    assert_eq!(tx.send("back"), Err("back"));
}

#[test]
fn oneshot_close_wakes_sender_and_keeps_a_sent_value() {
    Runtime::new().unwrap().block_on(async {
        let (mut tx, mut rx) = oneshot::channel::<u32>();
        let waiter = spawn(async move {
            tx.closed().await;
            tx.send(1)
        });
        yield_now().await;
        rx.close();
        assert_eq!(waiter.await.unwrap(), Err(1));
        assert_eq!(rx.try_recv(), Err(oneshot::error::TryRecvError::Closed));

        let (tx, mut rx) = oneshot::channel();
        tx.send(9).unwrap();
        rx.close();
        assert_eq!(rx.try_recv(), Ok(9));
    });
}

#[test]
fn watch_sees_latest_value_and_sender_drop() {
    Runtime::new().unwrap().block_on(async {
        let (tx, mut rx) = watch::channel(0);
        let mut rx2 = rx.clone();
        assert!(!rx.has_changed().unwrap());
        tx.send(1).unwrap();
        tx.send(2).unwrap();
        assert!(rx.borrow().has_changed());
        rx.changed().await.unwrap();
        assert_eq!(*rx.borrow(), 2);
        assert!(!rx.has_changed().unwrap());
        let b = spawn(async move {
            let mut seen = Vec::new();
            while rx2.changed().await.is_ok() {
                seen.push(*rx2.borrow_and_update());
            }
            seen
        });
        yield_now().await;
        tx.send_modify(|v| *v += 10);
        yield_now().await;
        drop(tx);
        assert_eq!(b.await.unwrap(), [2, 12]);
        assert!(
            rx.changed().await.is_ok(),
            "an unseen value is delivered first"
        );
        assert!(rx.changed().await.is_err());
    });
}

#[test]
fn watch_send_fails_without_receivers() {
    Runtime::new().unwrap().block_on(async {
        let (tx, rx) = watch::channel("a");
        let rx2 = tx.subscribe();
        assert_eq!(tx.receiver_count(), 2);
        drop(rx);
        tx.send("b").unwrap();
        assert_eq!(*rx2.borrow(), "b");
        drop(rx2);
        tx.closed().await;
        assert_eq!(tx.send("c"), Err(watch::error::SendError("c")));
        assert_eq!(tx.send_replace("d"), "b");
        assert_eq!(*tx.borrow(), "d");
    });
}

#[test]
fn notify_one_stores_a_permit_and_wakes_in_order() {
    let notify = Notify::new();
    notify.notify_one();
    notify.notify_one();
    let (c, waker) = counter();
    // One permit, not two.
    assert!(poll(pin!(notify.notified()), &waker).is_ready());
    let mut a = pin!(notify.notified());
    let mut b = pin!(notify.notified());
    assert!(poll(a.as_mut(), &waker).is_pending());
    assert!(poll(b.as_mut(), &waker).is_pending());
    notify.notify_one();
    assert_eq!(wakes(&c), 1);
    assert!(
        poll(b.as_mut(), &waker).is_pending(),
        "the first waiter is woken first"
    );
    assert!(poll(a.as_mut(), &waker).is_ready());
}

#[test]
fn notify_cancelled_waiter_passes_the_wake_on() {
    let notify = Notify::new();
    let (ca, wa) = counter();
    let (cb, wb) = counter();
    let mut a = Box::pin(notify.notified());
    let mut b = pin!(notify.notified());
    assert!(poll(a.as_mut(), &wa).is_pending());
    assert!(poll(b.as_mut(), &wb).is_pending());
    notify.notify_one();
    assert_eq!((wakes(&ca), wakes(&cb)), (1, 0));
    drop(a);
    assert_eq!(wakes(&cb), 1);
    assert!(poll(b.as_mut(), &wb).is_ready());

    // A waiter dropped before it was chosen takes nothing with it.
    let mut c = Box::pin(notify.notified());
    assert!(poll(c.as_mut(), &wa).is_pending());
    drop(c);
    notify.notify_one();
    assert!(
        poll(pin!(notify.notified()), &wa).is_ready(),
        "the permit was stored"
    );
}

#[test]
fn notify_waiters_wakes_all_created_before_it() {
    let notify = Notify::new();
    let (c, waker) = counter();
    let mut a = pin!(notify.notified());
    let mut b = pin!(notify.notified());
    let mut unpolled = pin!(notify.notified());
    assert!(poll(a.as_mut(), &waker).is_pending());
    assert!(poll(b.as_mut(), &waker).is_pending());
    notify.notify_waiters();
    assert_eq!(wakes(&c), 2);
    assert!(poll(a.as_mut(), &waker).is_ready());
    assert!(poll(b.as_mut(), &waker).is_ready());
    assert!(poll(unpolled.as_mut(), &waker).is_ready());
    // No permit is stored.
    assert!(poll(pin!(notify.notified()), &waker).is_pending());
}

#[test]
fn mutex_is_exclusive_and_fifo() {
    Runtime::new().unwrap().block_on(async {
        let m = Rc::new(Mutex::new(Vec::new()));
        let guard = m.lock().await;
        let mut tasks = Vec::new();
        for i in 0..5 {
            let m = m.clone();
            tasks.push(spawn(async move {
                let mut v = m.lock().await;
                yield_now().await;
                v.push(i);
            }));
            yield_now().await;
        }
        assert!(m.try_lock().is_err());
        drop(guard);
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*m.lock().await, [0, 1, 2, 3, 4]);
    });
}

#[test]
fn mutex_cancelled_waiter_passes_the_lock_on() {
    let m = Mutex::new(0);
    let guard = m.try_lock().unwrap();
    let (ca, wa) = counter();
    let (cb, wb) = counter();
    let mut a = Box::pin(m.lock());
    let mut b = pin!(m.lock());
    assert!(poll(a.as_mut(), &wa).is_pending());
    assert!(poll(b.as_mut(), &wb).is_pending());
    drop(guard);
    assert_eq!((wakes(&ca), wakes(&cb)), (1, 0));
    drop(a);
    assert_eq!(wakes(&cb), 1);
    match poll(b.as_mut(), &wb) {
        Poll::Ready(mut g) => *g += 1,
        Poll::Pending => panic!("the lock should have passed on"),
    }
    assert_eq!(*m.try_lock().unwrap(), 1);
}

#[test]
fn mutex_is_released_by_a_panicking_task() {
    Runtime::new().unwrap().block_on(async {
        let m = Rc::new(Mutex::new(1));
        let held = spawn({
            let m = m.clone();
            async move {
                let _g = m.lock().await;
                yield_now().await;
                panic!("task panics while holding the guard");
            }
        });
        yield_now().await;
        let waiter = spawn({
            let m = m.clone();
            async move { *m.lock().await + 1 }
        });
        assert!(held.await.unwrap_err().is_panic());
        assert_eq!(waiter.await.unwrap(), 2);
    });
}

#[test]
fn rwlock_shares_reads_and_queues_writers_first() {
    let lock = RwLock::new(0);
    let r1 = lock.try_read().unwrap();
    let (cw, ww) = counter();
    let (cr, wr) = counter();
    let mut write = pin!(lock.write());
    assert!(poll(write.as_mut(), &ww).is_pending());
    // A queued writer holds back later readers.
    assert!(lock.try_read().is_err());
    let mut read = pin!(lock.read());
    assert!(poll(read.as_mut(), &wr).is_pending());
    drop(r1);
    assert_eq!((wakes(&cw), wakes(&cr)), (1, 0));
    match poll(write.as_mut(), &ww) {
        Poll::Ready(mut g) => *g = 7,
        Poll::Pending => panic!("the writer should hold the lock"),
    }
    assert_eq!(wakes(&cr), 1);
    match poll(read.as_mut(), &wr) {
        Poll::Ready(g) => {
            assert_eq!(*g, 7);
            assert!(lock.try_read().is_ok(), "readers share");
            assert!(lock.try_write().is_err());
        }
        Poll::Pending => panic!("the reader should hold the lock"),
    }
}

#[test]
fn semaphore_grants_in_order_and_close_fails_waiters() {
    let sem = Semaphore::new(3);
    let two = sem.try_acquire_many(2).unwrap();
    let (c, waker) = counter();
    let mut big = pin!(sem.acquire_many(3));
    assert!(poll(big.as_mut(), &waker).is_pending());
    // One permit is free, but the queued large request comes first.
    assert!(sem.try_acquire().is_err());
    drop(two);
    assert_eq!(wakes(&c), 1);
    match poll(big.as_mut(), &waker) {
        Poll::Ready(Ok(p)) => {
            assert_eq!(p.num_permits(), 3);
            p.forget();
        }
        other => panic!("expected three permits, got {other:?}"),
    }
    assert_eq!(sem.available_permits(), 0);
    let mut one = pin!(sem.acquire());
    assert!(poll(one.as_mut(), &waker).is_pending());
    sem.close();
    assert_eq!(wakes(&c), 2);
    assert!(matches!(poll(one.as_mut(), &waker), Poll::Ready(Err(_))));
    assert_eq!(
        sem.try_acquire().unwrap_err(),
        runtime::sync::TryAcquireError::Closed
    );
}

#[test]
fn semaphore_cancelled_head_unblocks_smaller_requests() {
    let sem = Semaphore::new(1);
    let (c, waker) = counter();
    let mut big = Box::pin(sem.acquire_many(2));
    let mut small = pin!(sem.acquire());
    assert!(poll(big.as_mut(), &waker).is_pending());
    assert!(poll(small.as_mut(), &waker).is_pending());
    drop(big);
    assert_eq!(wakes(&c), 1);
    assert!(matches!(poll(small.as_mut(), &waker), Poll::Ready(Ok(_))));
}
