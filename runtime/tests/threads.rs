//! One loop per core: `Builder::threads(n).run(..)` and `run_per_core`.

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::thread;

use runtime::{Builder, loop_index, run_per_core, spawn};

#[test]
fn runs_the_entry_on_each_loop_in_its_own_thread() {
    let _watchdog = common::watchdog();
    let threads = Arc::new(Mutex::new(HashSet::new()));
    let t = threads.clone();
    let results = Builder::new().threads(2).run(move || {
        let t = t.clone();
        async move {
            t.lock().unwrap().insert(thread::current().id());
            let index = loop_index().unwrap();
            spawn(async move { index * 100 }).await.unwrap()
        }
    });
    let values: Vec<usize> = results.into_iter().map(Result::unwrap).collect();
    assert_eq!(values, [0, 100]);
    assert_eq!(threads.lock().unwrap().len(), 2);
    assert!(!threads.lock().unwrap().contains(&thread::current().id()));
    assert_eq!(loop_index(), None);
}

#[test]
fn a_panicking_loop_is_reported_and_the_others_finish() {
    let _watchdog = common::watchdog();
    let results = run_per_core(3, || async {
        if loop_index() == Some(1) {
            panic!("loop one fails");
        }
        runtime::yield_now().await;
        "fine"
    });
    assert_eq!(results.len(), 3);
    assert_eq!(*results[0].as_ref().unwrap(), "fine");
    assert_eq!(*results[2].as_ref().unwrap(), "fine");
    let err = results[1].as_ref().unwrap_err();
    assert_eq!(err.index(), 1);
    assert!(err.is_panic());
    assert_eq!(err.panic_message(), Some("loop one fails"));
    assert_eq!(err.to_string(), "loop 1 panicked: loop one fails");
}

#[cfg(target_os = "linux")]
#[test]
fn each_loop_is_pinned_to_one_core() {
    let _watchdog = common::watchdog();
    fn cpus_of_this_thread() -> usize {
        // SAFETY: a zeroed cpu_set_t is a valid empty set; pid 0 is the calling thread.
        let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        // SAFETY: `set` has the size passed.
        let rc = unsafe { libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) };
        assert_eq!(rc, 0);
        // SAFETY: a valid set.
        (unsafe { libc::CPU_COUNT(&set) }) as usize
    }
    let results = Builder::new()
        .threads(2)
        .run(|| async { cpus_of_this_thread() });
    for r in results {
        assert_eq!(r.unwrap(), 1);
    }
    let unpinned = Builder::new()
        .threads(1)
        .pin_threads(false)
        .run(|| async { cpus_of_this_thread() });
    assert_eq!(*unpinned[0].as_ref().unwrap(), cpus_of_this_thread());
}
