//! Names the backend families once, as cfg aliases, so the sources say
//! `#[cfg(evloop_kqueue)]` instead of repeating lists of operating systems.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(evloop_epoll)");
    println!("cargo::rustc-check-cfg=cfg(evloop_kqueue)");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    match os.as_str() {
        "linux" | "android" => println!("cargo::rustc-cfg=evloop_epoll"),
        "macos" | "ios" | "freebsd" | "dragonfly" | "openbsd" => {
            println!("cargo::rustc-cfg=evloop_kqueue")
        }
        _ => {}
    }
}
