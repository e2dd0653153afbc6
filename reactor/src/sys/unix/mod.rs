//! The readiness selectors of Unix: epoll (Linux, Android), kqueue (64-bit Apple
//! systems and FreeBSD) and poll (everywhere), with their wakeups in `waker/`.

#[cfg(evloop_epoll)]
pub(crate) mod epoll;
#[cfg(evloop_kqueue)]
mod kevent;
#[cfg(evloop_kqueue)]
pub(crate) mod kqueue;
pub(crate) mod poll;
pub(crate) mod waker;
