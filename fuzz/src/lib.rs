//! What each fuzz target checks, as plain functions: `cargo fuzz` calls them from
//! `fuzz_targets/`, and `tests/corpus.rs` replays the committed corpora and every past
//! finding through them on stable, as part of CI.
//!
//! Each check panics when an invariant breaks; returning is a pass.

pub mod buf_stream;
pub mod http_head;
pub mod resp;
pub mod timer_heap;

/// Reads the fuzzer's bytes as a stream of small numbers, the way the targets choose
/// their operations. Past the end it yields zeros, so every input is a whole program.
#[derive(Debug)]
pub struct Bytes<'a> {
    data: &'a [u8],
}

impl<'a> Bytes<'a> {
    /// A reader over `data`.
    pub fn new(data: &'a [u8]) -> Bytes<'a> {
        Bytes { data }
    }

    /// Whether every byte was taken.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The next byte, or 0.
    pub fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    /// The next two bytes as a little-endian number.
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }

    /// Up to `n` of the next bytes.
    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        head
    }
}
