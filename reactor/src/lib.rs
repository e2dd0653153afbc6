//! The reactor: fds to readiness to wakers.
