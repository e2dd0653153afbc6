//! The timer heap with its common-timeout queues, against a model: the same model and
//! checks as the timer crate's proptest (`timer/tests/model/mod.rs`, included here by
//! path), driven by the fuzzer's bytes instead of proptest's strategies.
//!
//! Every input decodes to a sequence of insert, cancel, reset, fire, queue take and
//! release, and arm-in-queue operations; after each one the heap and the model must
//! agree on every key, on the next deadline and on the order timers fire in, and the
//! heap's own invariants must hold.

#[path = "../../timer/tests/model/mod.rs"]
mod model;

use model::{DURATIONS, Op, run};

/// The check (see the module docs).
pub fn check(data: &[u8]) {
    let mut bytes = crate::Bytes::new(data);
    let mut ops = Vec::new();
    // Each operation takes three bytes; 256 of them reach every shape of a small heap
    // (the model checks every key after each step, so longer runs cost quadratically).
    while !bytes.is_empty() && ops.len() < 256 {
        let kind = bytes.byte();
        let a = usize::from(bytes.u16());
        let ms = (a % 100) as u64;
        ops.push(match kind % 13 {
            0..=3 => Op::Insert(ms),
            4 | 5 => Op::Cancel(a),
            6 | 7 => Op::Reset(a >> 7, ms),
            8 => Op::Fire((a % 30) as u64),
            9 => Op::Acquire(a % DURATIONS.len()),
            10 => Op::Release(a),
            _ => Op::Arm(
                a >> 6,
                [0, 0, 0, 0, 0, 0, 1, 2, 5, 17, 39][usize::from(kind >> 4) % 11],
            ),
        });
    }
    run(ops);
}
