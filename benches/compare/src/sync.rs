//! `--sync NAME --runtime evloop|tokio [--n N]`: the local channels of `runtime::sync`
//! against `tokio::sync` on a current_thread runtime, for callgrind instruction counts.
//!
//! `mpsc`: N sends and receives through a bounded channel of 64, one task.
//! `oneshot`: N channels, each made, sent on and received.

use std::time::Instant;

/// Runs one workload and prints its `result` line.
pub fn run(name: &str, side: &str, n: u64) -> Result<(), String> {
    let secs = match (name, side) {
        ("mpsc", "evloop") => evloop(mpsc_evloop(n)),
        ("mpsc", "tokio") => tokio(mpsc_tokio(n)),
        ("oneshot", "evloop") => evloop(oneshot_evloop(n)),
        ("oneshot", "tokio") => tokio(oneshot_tokio(n)),
        _ => return Err(format!("unknown sync workload {name:?} on {side:?}")),
    };
    println!("result secs={secs:.6}");
    Ok(())
}

fn evloop<F: std::future::Future<Output = f64>>(f: F) -> f64 {
    runtime::Runtime::new().expect("runtime").block_on(f)
}

fn tokio<F: std::future::Future<Output = f64>>(f: F) -> f64 {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio runtime")
        .block_on(f)
}

async fn mpsc_evloop(n: u64) -> f64 {
    let (tx, mut rx) = runtime::sync::mpsc::channel(64);
    let start = Instant::now();
    let mut sum = 0u64;
    for i in 0..n {
        tx.send(i).await.expect("send");
        sum += rx.recv().await.expect("recv");
    }
    assert_eq!(sum, n * n.saturating_sub(1) / 2);
    start.elapsed().as_secs_f64()
}

async fn mpsc_tokio(n: u64) -> f64 {
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let start = Instant::now();
    let mut sum = 0u64;
    for i in 0..n {
        tx.send(i).await.expect("send");
        sum += rx.recv().await.expect("recv");
    }
    assert_eq!(sum, n * n.saturating_sub(1) / 2);
    start.elapsed().as_secs_f64()
}

async fn oneshot_evloop(n: u64) -> f64 {
    let start = Instant::now();
    let mut sum = 0u64;
    for i in 0..n {
        let (tx, rx) = runtime::sync::oneshot::channel();
        tx.send(i).expect("send");
        sum += rx.await.expect("recv");
    }
    assert_eq!(sum, n * n.saturating_sub(1) / 2);
    start.elapsed().as_secs_f64()
}

async fn oneshot_tokio(n: u64) -> f64 {
    let start = Instant::now();
    let mut sum = 0u64;
    for i in 0..n {
        let (tx, rx) = tokio::sync::oneshot::channel();
        tx.send(i).expect("send");
        sum += rx.await.expect("recv");
    }
    assert_eq!(sum, n * n.saturating_sub(1) / 2);
    start.elapsed().as_secs_f64()
}
