//! Timers on evloop: `sleep`, `timeout` and `interval`, a few lines each.
//!
//! ```text
//! cargo run --example timers
//! ```

use std::time::{Duration, Instant};

use runtime::time::{interval, sleep, timeout};

#[runtime::main]
async fn main() {
    let start = Instant::now();

    // sleep: wait at least this long (never less).
    sleep(Duration::from_millis(100)).await;
    println!("slept for {:?}", start.elapsed());

    // timeout: give up on a future that takes too long.
    let slow = sleep(Duration::from_secs(10));
    match timeout(Duration::from_millis(50), slow).await {
        Ok(()) => println!("the slow future finished first"),
        Err(_elapsed) => println!("timed out after {:?}", start.elapsed()),
    }

    // interval: tick every period; the first tick is immediate.
    let mut ticks = interval(Duration::from_millis(100));
    for i in 0..3 {
        ticks.tick().await;
        println!("tick {i} at {:?}", start.elapsed());
    }
}
