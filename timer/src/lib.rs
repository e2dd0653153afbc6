//! The timer crate: an indexed min-heap of deadlines (filled in by its issue).
