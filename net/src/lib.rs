//! The net crate: sockets on the reactor (filled in by its issue).
