//! Names the socket-API families once, as cfg aliases, so the sources say
//! `#[cfg(evloop_apple)]` instead of repeating lists of operating systems.
//!
//! - `evloop_apple` (worked out by the reactor's build script, which says so as
//!   `DEP_EVLOOP_REACTOR_APPLE`): no `SOCK_NONBLOCK`/`SOCK_CLOEXEC`, no `accept4`, no `MSG_NOSIGNAL`
//!   (`SO_NOSIGPIPE` instead);
//! - `evloop_sa_len`: socket addresses start with a length byte (`sin_len`, `sun_len`),
//!   as on the BSDs and Apple's systems.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(evloop_apple)");
    println!("cargo::rustc-check-cfg=cfg(evloop_sa_len)");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let apple = std::env::var("DEP_EVLOOP_REACTOR_APPLE").as_deref() == Ok("1");
    if apple {
        println!("cargo::rustc-cfg=evloop_apple");
    }
    if apple || matches!(os.as_str(), "freebsd" | "dragonfly" | "openbsd" | "netbsd") {
        println!("cargo::rustc-cfg=evloop_sa_len");
    }
}
