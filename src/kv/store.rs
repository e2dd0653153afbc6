//! The keyspace: byte-string keys and values, with expiry.
//!
//! Keys expire as Redis's do. A key whose deadline has passed is removed when a command
//! touches it (*lazy* expiry), and a periodic [`expire_cycle`](Store::expire_cycle)
//! samples keys that have a deadline and removes the expired ones (*active* expiry),
//! modelled on Redis's `activeExpireCycle`: it takes [`ExpirePolicy::sample`] random keys
//! with a deadline, removes those expired, and goes on while more than
//! [`ExpirePolicy::stale_percent`] of a sample had expired, looking at no more than
//! [`ExpirePolicy::max_keys_per_cycle`] keys in all. So the work per tick is bounded, and
//! expired keys that nobody reads are still reclaimed.
//!
//! Keys hash with foldhash, seeded at random for each store: much cheaper than SipHash
//! for short keys (a fifth of the server's instructions per request went to SipHash),
//! and a client cannot choose keys that collide without knowing the seed. (Redis uses
//! SipHash-1-2 for the same reason.)
//!
//! Deadlines are whole milliseconds since the store was created, like Redis's `mstime`.
//! A key expires once the clock is *past* its deadline. Every key with a deadline also
//! sits in a vector (and knows its index there), so a random sample costs one index
//! each, and adding or removing a deadline is O(1).

use std::time::Instant;

use hashbrown::DefaultHashBuilder;
use hashbrown::hash_map::{EntryRef, HashMap};

/// No deadline.
const NEVER: u64 = u64::MAX;

/// One key's value and deadline.
#[derive(Debug)]
struct Entry {
    value: Vec<u8>,
    /// Milliseconds since the store's epoch after which the key is gone, or `NEVER`.
    deadline: u64,
    /// The key's index in `Store::volatile` while it has a deadline.
    slot: usize,
}

/// The time of a batch of commands: read from the clock once, when a command first
/// needs it (most do not), so a pipelined batch costs at most one clock read.
#[derive(Clone, Copy, Debug, Default)]
pub struct Now {
    at: Option<Instant>,
}

impl Now {
    /// Reads the clock when first asked.
    pub fn lazy() -> Now {
        Now { at: None }
    }

    /// A fixed time (for tests).
    pub fn at(instant: Instant) -> Now {
        Now { at: Some(instant) }
    }

    /// The time.
    pub fn instant(&mut self) -> Instant {
        *self.at.get_or_insert_with(Instant::now)
    }
}

/// What becomes of a key's deadline when its value is set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expiry {
    /// No deadline (a plain `SET`).
    Never,
    /// Keep the deadline it had (`SET ... KEEPTTL`, `INCR`).
    Keep,
    /// This deadline, in the store's milliseconds.
    At(u64),
}

/// How much the active expiry does per tick (see the [module](self)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExpirePolicy {
    /// Keys looked at per round (Redis: 20).
    pub sample: usize,
    /// Another round runs while more than this share of a sample, in percent, had
    /// expired (Redis: 10).
    pub stale_percent: usize,
    /// The most keys one cycle looks at.
    pub max_keys_per_cycle: usize,
}

impl Default for ExpirePolicy {
    fn default() -> ExpirePolicy {
        ExpirePolicy {
            sample: 20,
            stale_percent: 10,
            max_keys_per_cycle: 2000,
        }
    }
}

/// What one [`expire_cycle`](Store::expire_cycle) did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CycleStats {
    /// Keys looked at.
    pub sampled: usize,
    /// Keys removed.
    pub expired: usize,
}

/// The keyspace (see the [module](self)).
#[derive(Debug)]
pub struct Store {
    map: HashMap<Box<[u8]>, Entry, DefaultHashBuilder>,
    /// The keys that have a deadline.
    volatile: Vec<Box<[u8]>>,
    epoch: Instant,
    rng: u64,
}

impl Default for Store {
    fn default() -> Store {
        Store::new()
    }
}

impl Store {
    /// An empty store whose clock starts now.
    pub fn new() -> Store {
        Store::with_epoch(Instant::now())
    }

    /// An empty store whose milliseconds count from `epoch`.
    pub fn with_epoch(epoch: Instant) -> Store {
        Store {
            map: HashMap::with_hasher(DefaultHashBuilder::default()),
            volatile: Vec::new(),
            epoch,
            rng: 0x9e37_79b9_7f4a_7c15,
        }
    }

    /// `now` in the store's milliseconds.
    pub fn millis(&self, now: &mut Now) -> u64 {
        millis_since(self.epoch, now)
    }

    /// How many keys, counting expired ones not yet removed (as Redis's `DBSIZE` does).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// How many keys have a deadline.
    pub fn volatile_len(&self) -> usize {
        self.volatile.len()
    }

    /// Removes every key.
    pub fn clear(&mut self) {
        self.map.clear();
        self.volatile.clear();
    }

    /// Calls `f` with the value of `key` if it is there and not expired, and returns what
    /// `f` returns; an expired key is removed. The value may be changed in place.
    pub fn with_value<R>(
        &mut self,
        key: &[u8],
        now: &mut Now,
        f: impl FnOnce(&mut Vec<u8>) -> R,
    ) -> Option<R> {
        self.with_live(key, now, |e| f(&mut e.value))
    }

    /// A copy of the value of `key`, if it is there and not expired.
    pub fn get(&mut self, key: &[u8], now: &mut Now) -> Option<Vec<u8>> {
        self.with_value(key, now, |v| v.clone())
    }

    /// Whether `key` is there and not expired.
    pub fn contains(&mut self, key: &[u8], now: &mut Now) -> bool {
        self.with_live(key, now, |_| ()).is_some()
    }

    /// The deadline of `key`: `None` if it is not there, `Some(None)` if it never
    /// expires, else `Some(Some(ms))` in the store's milliseconds.
    pub fn deadline(&mut self, key: &[u8], now: &mut Now) -> Option<Option<u64>> {
        self.with_live(key, now, |e| (e.deadline != NEVER).then_some(e.deadline))
    }

    /// Sets `key` to `value`, with its deadline as `expiry` says.
    pub fn set(&mut self, key: &[u8], value: &[u8], expiry: Expiry) {
        let next_slot = self.volatile.len();
        let deadline = |old: u64| match expiry {
            Expiry::Keep => old,
            Expiry::Never => NEVER,
            Expiry::At(ms) => ms.min(NEVER - 1),
        };
        // (had a deadline, has one, slot in `volatile`)
        let change = match self.map.entry_ref(key) {
            EntryRef::Occupied(mut o) => {
                let entry = o.get_mut();
                // Reuse the allocation unless it is far larger than needed.
                if entry.value.capacity() > 2 * value.len() + 64 {
                    entry.value = value.to_vec();
                } else {
                    entry.value.clear();
                    entry.value.extend_from_slice(value);
                }
                let old = entry.deadline;
                entry.deadline = deadline(old);
                if old == NEVER && entry.deadline != NEVER {
                    entry.slot = next_slot;
                }
                (old != NEVER, entry.deadline != NEVER, entry.slot)
            }
            EntryRef::Vacant(v) => {
                let entry = v.insert_with_key(
                    key.into(),
                    Entry {
                        value: value.to_vec(),
                        deadline: deadline(NEVER),
                        slot: next_slot,
                    },
                );
                (false, entry.deadline != NEVER, next_slot)
            }
        };
        match change {
            (false, true, _) => self.volatile.push(key.into()),
            (true, false, slot) => self.unlink(slot),
            _ => {}
        }
    }

    /// Removes `key`; true if it was there and not expired.
    pub fn remove(&mut self, key: &[u8], now: &mut Now) -> bool {
        let Some(entry) = self.map.remove(key) else {
            return false;
        };
        if entry.deadline == NEVER {
            return true;
        }
        self.unlink(entry.slot);
        !self.is_past(entry.deadline, now)
    }

    /// Gives `key` the deadline `ms` (or none), if it is there; true if it was.
    pub fn set_deadline(&mut self, key: &[u8], deadline: Option<u64>, now: &mut Now) -> bool {
        let new = deadline.map_or(NEVER, |ms| ms.min(NEVER - 1));
        let next_slot = self.volatile.len();
        let Some((old, slot)) = self.with_live(key, now, |e| {
            let old = e.deadline;
            e.deadline = new;
            if old == NEVER && new != NEVER {
                e.slot = next_slot;
            }
            (old, e.slot)
        }) else {
            return false;
        };
        match (old == NEVER, new == NEVER) {
            (true, false) => self.volatile.push(key.into()),
            (false, true) => self.unlink(slot),
            _ => {}
        }
        true
    }

    /// One round of active expiry at `now` (see the [module](self)).
    pub fn expire_cycle(&mut self, now: &mut Now, policy: &ExpirePolicy) -> CycleStats {
        let mut stats = CycleStats::default();
        let sample = policy.sample.max(1);
        let now_ms = self.millis(now);
        while !self.volatile.is_empty() && stats.sampled < policy.max_keys_per_cycle {
            let round = sample.min(self.volatile.len());
            let mut expired = 0;
            for _ in 0..round {
                let i = (self.next_random() % self.volatile.len() as u64) as usize;
                let key = &self.volatile[i];
                let past = self.map.get(&**key).is_some_and(|e| now_ms > e.deadline);
                if past {
                    let key = key.clone();
                    if let Some(e) = self.map.remove(&*key) {
                        self.unlink(e.slot);
                    }
                    expired += 1;
                }
                if self.volatile.is_empty() {
                    break;
                }
            }
            stats.sampled += round;
            stats.expired += expired;
            if expired * 100 <= round * policy.stale_percent {
                break;
            }
        }
        stats
    }

    /// Calls `f` with the entry of `key` if it is there and not expired; an expired one
    /// is removed. One hash lookup either way.
    fn with_live<R>(
        &mut self,
        key: &[u8],
        now: &mut Now,
        f: impl FnOnce(&mut Entry) -> R,
    ) -> Option<R> {
        let epoch = self.epoch;
        let slot = match self.map.entry_ref(key) {
            EntryRef::Vacant(_) => return None,
            EntryRef::Occupied(mut o) => {
                let deadline = o.get().deadline;
                if deadline == NEVER || millis_since(epoch, now) <= deadline {
                    return Some(f(o.get_mut()));
                }
                o.remove().slot
            }
        };
        self.unlink(slot);
        None
    }

    fn is_past(&self, deadline: u64, now: &mut Now) -> bool {
        deadline != NEVER && self.millis(now) > deadline
    }

    /// Removes the key at `slot` of `volatile`, and tells the key moved into its place.
    fn unlink(&mut self, slot: usize) {
        self.volatile.swap_remove(slot);
        if let Some(moved) = self.volatile.get(slot)
            && let Some(e) = self.map.get_mut(&**moved)
        {
            e.slot = slot;
        }
    }

    /// xorshift64*: enough to sample keys, and no dependency.
    fn next_random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// `now` in milliseconds since `epoch`.
fn millis_since(epoch: Instant, now: &mut Now) -> u64 {
    now.instant().saturating_duration_since(epoch).as_millis() as u64
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
