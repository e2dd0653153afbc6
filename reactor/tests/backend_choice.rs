//! Choosing the backend: the order of preference, the builder and `EVLOOP_BACKEND`.
//!
//! This file holds a single test because it changes the process environment, which
//! must not race with other threads.

use std::io;

use reactor::{BACKEND_ENV, BackendKind, Reactor};

#[test]
fn backend_choice() {
    // The best backend comes first; poll is always there.
    let available = BackendKind::available();
    assert_eq!(*available.last().unwrap(), BackendKind::Poll);
    #[cfg(target_os = "linux")]
    assert_eq!(available[0], BackendKind::Epoll);

    // The builder names one exactly (io_uring may fall back to epoll where the kernel
    // refuses it; `uring_fallback.rs` tests that).
    for &kind in available {
        let r = Reactor::builder().backend(kind).build().unwrap();
        if kind == BackendKind::Uring && r.backend() == BackendKind::Epoll {
            continue;
        }
        assert_eq!(r.backend(), kind);
        assert_eq!(r.backend_name(), kind.name());
    }
    #[cfg(target_os = "linux")]
    {
        assert!(available.contains(&BackendKind::Uring));
        assert_eq!(BackendKind::from_name("uring").unwrap(), BackendKind::Uring);
        assert_eq!(
            BackendKind::from_name("io_uring").unwrap(),
            BackendKind::Uring
        );
    }

    // Unknown and unavailable names are errors that name them and list the choices.
    let err = BackendKind::from_name("select").unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert!(
        err.to_string().contains("`select`") && err.to_string().contains("poll"),
        "{err}"
    );
    #[cfg(target_os = "linux")]
    {
        let err = Reactor::builder()
            .backend(BackendKind::Kqueue)
            .build()
            .unwrap_err();
        assert!(
            err.to_string().contains("kqueue") && err.to_string().contains("epoll, uring, poll"),
            "{err}"
        );
    }

    // SAFETY: this test binary runs this one test, on one thread, so nothing reads the
    // environment concurrently.
    unsafe { std::env::set_var(BACKEND_ENV, "poll") };
    assert_eq!(Reactor::new().unwrap().backend_name(), "poll");
    // The builder overrides the environment.
    #[cfg(target_os = "linux")]
    assert_eq!(
        Reactor::builder()
            .backend(BackendKind::Epoll)
            .build()
            .unwrap()
            .backend_name(),
        "epoll"
    );
    // SAFETY: as above.
    unsafe { std::env::set_var(BACKEND_ENV, "bogus") };
    let err = Reactor::new().unwrap_err();
    assert!(
        err.to_string().contains(BACKEND_ENV) && err.to_string().contains("`bogus`"),
        "{err}"
    );
    // SAFETY: as above.
    unsafe { std::env::remove_var(BACKEND_ENV) };
    assert_eq!(Reactor::new().unwrap().backend(), available[0]);
}
