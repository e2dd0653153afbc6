//! Stand-in for the timer crate's handle until it lands.
#![allow(dead_code, missing_docs)]
use std::time::Instant;
#[derive(Debug, Default)]
pub(crate) struct Handle;
impl Handle {
    pub(crate) fn new() -> Handle {
        Handle
    }
    pub(crate) fn enter(&self) -> Guard {
        Guard
    }
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        None
    }
    pub(crate) fn fire_expired(&self, _now: Instant) -> usize {
        0
    }
}
#[derive(Debug)]
pub(crate) struct Guard;
