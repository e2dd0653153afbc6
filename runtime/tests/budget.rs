//! Fairness under the cooperative budget: an always-ready task starves nobody.

mod common;

use std::cell::Cell;
use std::future::{Future, poll_fn};
use std::rc::Rc;

use runtime::{Builder, Runtime, spawn, yield_now};

/// A fake I/O operation that is always ready, but spends the reactor budget like a real
/// socket read does.
async fn ready_io() {
    poll_fn(reactor::budget::poll_proceed).await
}

#[test]
fn an_always_ready_io_loop_does_not_starve_other_tasks() {
    let _watchdog = common::watchdog();
    let rt = Runtime::new().unwrap();
    let spins = Rc::new(Cell::new(0u64));
    let s = spins.clone();
    let done = rt.block_on(async move {
        let spinner = spawn(async move {
            loop {
                ready_io().await; // never Pending on its own: only the budget stops it
                s.set(s.get() + 1);
            }
        });
        let other = spawn(async {
            for _ in 0..10 {
                yield_now().await;
            }
            "other finished"
        });
        let out = other.await.unwrap();
        spinner.abort();
        out
    });
    assert_eq!(done, "other finished");
    assert!(spins.get() > 0, "the spinner did run");
}

#[test]
fn the_budget_is_refilled_before_each_poll() {
    let _watchdog = common::watchdog();
    let rt = Builder::new().budget(5).build().unwrap();
    let seen = rt.block_on(async {
        spawn(async {
            let mut seen = vec![reactor::budget::remaining()];
            ready_io().await;
            ready_io().await;
            seen.push(reactor::budget::remaining());
            yield_now().await; // a new poll: a full budget again
            seen.push(reactor::budget::remaining());
            for _ in 0..5 {
                ready_io().await;
            }
            seen.push(reactor::budget::remaining());
            ready_io().await; // spent: this one yields, then proceeds on the next poll
            seen.push(reactor::budget::remaining());
            seen
        })
        .await
        .unwrap()
    });
    assert_eq!(seen, [Some(5), Some(3), Some(5), Some(0), Some(4)]);
    // Outside the runtime the budget is unconstrained again.
    assert_eq!(reactor::budget::remaining(), None);
}

#[test]
fn a_yield_loop_does_not_starve_the_block_on_future() {
    let _watchdog = common::watchdog();
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let spinner = spawn(async {
            loop {
                yield_now().await;
            }
        });
        for _ in 0..100 {
            yield_now().await;
        }
        spinner.abort();
        assert!(spinner.await.unwrap_err().is_cancelled());
    });
}

#[test]
fn a_spinning_block_on_future_does_not_starve_tasks() {
    let _watchdog = common::watchdog();
    let rt = Runtime::new().unwrap();
    let flag = Rc::new(Cell::new(false));
    let f = flag.clone();
    rt.block_on(async move {
        spawn(async move { f.set(true) });
        while !flag.get() {
            ready_io().await;
        }
    });
}

#[test]
fn the_block_on_future_yields_when_its_budget_is_spent() {
    let _watchdog = common::watchdog();
    // With a budget of 3, nine always-ready operations need three polls of the
    // `block_on` future: three operations in each, the fourth yielding.
    let rt = Builder::new().budget(3).build().unwrap();
    let polls = Rc::new(Cell::new(0));
    let p = polls.clone();
    let mut body = Box::pin(async {
        for _ in 0..9 {
            ready_io().await;
        }
    });
    rt.block_on(poll_fn(move |cx| {
        p.set(p.get() + 1);
        body.as_mut().poll(cx)
    }));
    assert_eq!(polls.get(), 3);
}
