//! A peer reset during a write is an error, never a SIGPIPE. This binary restores the
//! default SIGPIPE action (which kills the process), so a write that raised the signal
//! would end the test run instead of passing.

mod common;

use std::io::{self, IoSlice};
use std::sync::Once;
use std::time::Duration;

use common::{connected_pair, run};
use reactor::BackendKind;

fn default_sigpipe() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: setting a signal's disposition to SIG_DFL installs no handler code;
        // the test harness ignored SIGPIPE and this undoes exactly that.
        let previous = unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
        assert_ne!(previous, libc::SIG_ERR);
    });
}

fn is_reset(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
    )
}

async fn reset_peer(vectored: bool) {
    default_sigpipe();
    let (client, server) = connected_pair().await;
    server.set_linger(Some(Duration::ZERO)).unwrap();
    drop(server); // sends RST
    let chunk = vec![7u8; 64 << 10];
    let mut writes = 0;
    let err = loop {
        let r = if vectored {
            client
                .write_vectored(&[IoSlice::new(&chunk), IoSlice::new(&chunk)])
                .await
        } else {
            client.write(&chunk).await
        };
        match r {
            Ok(_) => writes += 1,
            Err(e) => break e,
        }
        assert!(writes < 10_000, "writes to a reset peer kept succeeding");
        runtime::time::sleep(Duration::from_millis(1)).await;
    };
    assert!(is_reset(&err), "unexpected error {err:?}");
    // Writing again keeps failing, still without a signal.
    let again = client.write(&chunk).await.unwrap_err();
    assert!(is_reset(&again), "unexpected error {again:?}");
}

fn reset_during_write(kind: BackendKind) {
    run(kind, reset_peer(false));
}

fn reset_during_vectored_write(kind: BackendKind) {
    run(kind, reset_peer(true));
}

fn reset_during_read(kind: BackendKind) {
    run(kind, async {
        let (client, server) = connected_pair().await;
        server.set_linger(Some(Duration::ZERO)).unwrap();
        drop(server);
        let mut buf = [0; 16];
        let err = client.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{err:?}");
    });
}

per_backend!(
    reset_during_write,
    reset_during_vectored_write,
    reset_during_read
);
