//! What a backend watches (the OS's handle for an I/O object), and a socket address
//! as the kernel lays it out.

/// The raw handle a backend registers: a file descriptor on Unix. The contract names
/// this type, not `RawFd`, so that a backend of sockets (`RawSocket`) fits it too.
#[cfg(unix)]
pub type RawSource = std::os::fd::RawFd;

/// A socket address in the kernel's layout, and its length.
pub type RawSocketAddr = (libc::sockaddr_storage, libc::socklen_t);
