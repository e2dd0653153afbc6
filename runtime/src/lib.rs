//! The runtime crate: the loop and the tasks (filled in by its issue).
