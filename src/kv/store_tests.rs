use std::collections::BTreeMap;
use std::time::Duration;

use proptest::prelude::*;

use super::*;

/// The store at `ms` milliseconds after its epoch.
fn at(store: &Store, ms: u64) -> Now {
    Now::at(store.epoch + Duration::from_millis(ms))
}

/// Every key with a deadline is in `volatile` exactly once, at its `slot`, and no other.
fn check_invariants(store: &Store) {
    let volatile = store.map.values().filter(|e| e.deadline != NEVER).count();
    assert_eq!(store.volatile.len(), volatile);
    for (i, key) in store.volatile.iter().enumerate() {
        let e = store.map.get(&**key).expect("a volatile key is in the map");
        assert_ne!(e.deadline, NEVER);
        assert_eq!(e.slot, i, "slot of {key:?}");
    }
}

#[test]
fn keys_expire_once_the_clock_is_past_their_deadline() {
    let mut s = Store::new();
    s.set(b"k", b"v", Expiry::At(100));
    s.set(b"p", b"forever", Expiry::Never);
    assert_eq!(s.get(b"k", &mut at(&s, 100)), Some(b"v".to_vec()));
    assert_eq!(s.deadline(b"k", &mut at(&s, 100)), Some(Some(100)));
    assert_eq!(s.deadline(b"p", &mut at(&s, 100)), Some(None));
    assert_eq!(s.len(), 2);
    assert_eq!(s.get(b"k", &mut at(&s, 101)), None, "lazily expired");
    assert_eq!(s.len(), 1, "and removed");
    assert_eq!(s.deadline(b"k", &mut at(&s, 101)), None);
    check_invariants(&s);
}

#[test]
fn setting_keeps_or_replaces_the_deadline() {
    let mut s = Store::new();
    let now = &mut at(&s, 0);
    s.set(b"k", b"1", Expiry::At(50));
    s.set(b"k", b"2", Expiry::Keep);
    assert_eq!(s.deadline(b"k", now), Some(Some(50)));
    s.set(b"k", b"3", Expiry::Never);
    assert_eq!(s.deadline(b"k", now), Some(None));
    assert_eq!(s.volatile_len(), 0);
    s.set(b"k", b"4", Expiry::At(70));
    assert_eq!(s.volatile_len(), 1);
    assert!(s.set_deadline(b"k", None, now));
    assert_eq!(s.volatile_len(), 0);
    assert!(!s.set_deadline(b"missing", Some(5), now));
    assert_eq!(s.with_value(b"k", now, |v| v.clone()), Some(b"4".to_vec()));
    assert!(s.remove(b"k", now));
    assert!(!s.remove(b"k", now));
    check_invariants(&s);
}

#[test]
fn removing_an_expired_key_reports_it_absent() {
    let mut s = Store::new();
    s.set(b"k", b"v", Expiry::At(10));
    assert!(!s.remove(b"k", &mut at(&s, 11)));
    assert!(s.is_empty());
    check_invariants(&s);
}

#[test]
fn active_expiry_reclaims_unread_keys_with_bounded_work() {
    let mut s = Store::new();
    for i in 0..10_000u32 {
        s.set(&i.to_be_bytes(), b"v", Expiry::At(100));
    }
    for i in 0..100u32 {
        s.set(format!("keep{i}").as_bytes(), b"v", Expiry::Never);
    }
    let policy = ExpirePolicy::default();
    let mut now = at(&s, 50);
    let before = s.expire_cycle(&mut now, &policy);
    assert_eq!(before.expired, 0);
    assert_eq!(
        before.sampled, policy.sample,
        "one round when nothing expired"
    );
    let mut cycles = 0;
    let mut now = at(&s, 200);
    while s.volatile_len() > 0 {
        let stats = s.expire_cycle(&mut now, &policy);
        assert!(stats.sampled <= policy.max_keys_per_cycle, "{stats:?}");
        assert!(stats.expired > 0);
        cycles += 1;
        assert!(
            cycles < 100,
            "active expiry stalled at {}",
            s.volatile_len()
        );
        check_invariants(&s);
    }
    assert!(
        cycles >= 10_000 / policy.max_keys_per_cycle,
        "{cycles} cycles"
    );
    assert_eq!(s.len(), 100, "the keys without a deadline stay");
}

#[test]
fn active_expiry_stops_when_few_sampled_keys_expired() {
    let mut s = Store::new();
    for i in 0..1000u32 {
        // One key in fifty expires.
        let deadline = if i % 50 == 0 { 10 } else { 1_000_000 };
        s.set(&i.to_be_bytes(), b"v", Expiry::At(deadline));
    }
    let stats = s.expire_cycle(&mut at(&s, 20), &ExpirePolicy::default());
    assert!(stats.sampled < 200, "{stats:?}");
    check_invariants(&s);
}

/// One operation of the model test.
#[derive(Clone, Debug)]
enum Op {
    Set(u8, u8, Option<u64>),
    SetKeep(u8, u8),
    Remove(u8),
    Expire(u8, Option<u64>),
    Advance(u64),
    Cycle,
}

fn op() -> impl Strategy<Value = Op> {
    let key = 0u8..16;
    prop_oneof![
        (key.clone(), any::<u8>(), prop::option::of(0u64..200))
            .prop_map(|(k, v, d)| Op::Set(k, v, d)),
        (key.clone(), any::<u8>()).prop_map(|(k, v)| Op::SetKeep(k, v)),
        key.clone().prop_map(Op::Remove),
        (key, prop::option::of(0u64..200)).prop_map(|(k, d)| Op::Expire(k, d)),
        (0u64..60).prop_map(Op::Advance),
        Just(Op::Cycle),
    ]
}

proptest! {
    /// Random operations on the store and on a `BTreeMap` model agree, and the volatile
    /// index stays consistent.
    #[test]
    fn the_store_agrees_with_a_model(ops in prop::collection::vec(op(), 1..200)) {
        let mut s = Store::new();
        // key -> (value, deadline)
        let mut model: BTreeMap<u8, (u8, Option<u64>)> = BTreeMap::new();
        let mut t = 0u64;
        let policy = ExpirePolicy { sample: 3, stale_percent: 10, max_keys_per_cycle: 6 };
        for op in ops {
            let now = &mut at(&s, t);
            model.retain(|_, (_, d)| d.is_none_or(|d| t <= d));
            match op {
                Op::Set(k, v, d) => {
                    let d = d.map(|d| t + d);
                    s.set(&[k], &[v], d.map_or(Expiry::Never, Expiry::At));
                    model.insert(k, (v, d));
                }
                Op::SetKeep(k, v) => {
                    s.set(&[k], &[v], Expiry::Keep);
                    let d = model.get(&k).and_then(|e| e.1);
                    model.insert(k, (v, d));
                }
                Op::Remove(k) => {
                    prop_assert_eq!(s.remove(&[k], now), model.remove(&k).is_some());
                }
                Op::Expire(k, d) => {
                    let d = d.map(|d| t + d);
                    let there = model.get_mut(&k).map(|e| e.1 = d).is_some();
                    prop_assert_eq!(s.set_deadline(&[k], d, now), there);
                }
                Op::Advance(ms) => t += ms,
                Op::Cycle => {
                    s.expire_cycle(now, &policy);
                }
            }
            check_invariants(&s);
            let now = &mut at(&s, t);
            model.retain(|_, (_, d)| d.is_none_or(|d| t <= d));
            for k in 0..16u8 {
                let want = model.get(&k).map(|e| vec![e.0]);
                prop_assert_eq!(s.get(&[k], now), want, "key {}", k);
                prop_assert_eq!(s.deadline(&[k], now), model.get(&k).map(|e| e.1));
            }
            prop_assert_eq!(s.len(), model.len());
        }
    }
}
