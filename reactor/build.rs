//! Names the backend families once, as cfg aliases, so the sources say
//! `#[cfg(evloop_kqueue)]` instead of repeating lists of operating systems.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(evloop_epoll)");
    println!("cargo::rustc-check-cfg=cfg(evloop_kqueue)");
    // io_uring: Linux only (the `io-uring` dependency is too).
    println!("cargo::rustc-check-cfg=cfg(evloop_uring)");
    // Apple's systems lack `pipe2`.
    println!("cargo::rustc-check-cfg=cfg(evloop_apple)");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let apple = matches!(
        os.as_str(),
        "macos" | "ios" | "tvos" | "watchos" | "visionos"
    );
    // The kqueue backend carries 64-bit tokens in `udata` (a pointer) and wakes the
    // loop with `EVFILT_USER`: 64-bit Apple systems and FreeBSD. Other BSDs, and
    // 32-bit systems, use the poll backend.
    let wide = std::env::var("CARGO_CFG_TARGET_POINTER_WIDTH").as_deref() == Ok("64");
    if matches!(os.as_str(), "linux" | "android") {
        println!("cargo::rustc-cfg=evloop_epoll");
        if os == "linux" {
            println!("cargo::rustc-cfg=evloop_uring");
        }
    } else if wide && (apple || os == "freebsd") {
        println!("cargo::rustc-cfg=evloop_kqueue");
    }
    if apple {
        println!("cargo::rustc-cfg=evloop_apple");
    }
    // For the build scripts of dependents, as DEP_EVLOOP_REACTOR_APPLE.
    println!("cargo::metadata=apple={}", u8::from(apple));
}
