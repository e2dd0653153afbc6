//! evloop's side: the accept loop of each service and the task workloads. The
//! application code is the same as tokio's (see `serve.rs` and `micro.rs`); evloop's
//! `net::TcpStream` implements futures-io and hyper's I/O traits itself, so it needs no
//! adapter.

use std::io;
use std::pin::Pin;
use std::time::{Duration, Instant};

use evloop::http::Sleeper;

use crate::micro::Micro;
use crate::serve::{Service, announce, hello, http_state};

/// evloop's [`Sleeper`] for the shared HTTP server: `runtime::time`'s timers.
#[derive(Clone, Copy, Debug, Default)]
pub struct EvloopSleeper;

impl Sleeper for EvloopSleeper {
    type Sleep = runtime::time::Sleep;

    fn sleep_until(&self, deadline: Instant) -> runtime::time::Sleep {
        runtime::time::sleep_until(deadline)
    }

    fn reset(&self, sleep: Pin<&mut runtime::time::Sleep>, deadline: Instant) {
        sleep.reset(deadline);
    }

    fn now(&self) -> Instant {
        runtime::time::now()
    }
}

/// How long the accept loop pauses after an error (out of descriptors, ...).
const ACCEPT_PAUSE: Duration = Duration::from_millis(10);

/// Runs `service` on evloop (on `backend`, else the default one) until the process is
/// killed. A uring server that fell back to epoll says so and fails: its figures would
/// be epoll's.
pub fn serve(service: Service, backend: Option<runtime::BackendKind>) -> io::Result<()> {
    let mut builder = runtime::Builder::new();
    if let Some(kind) = backend {
        builder = builder.backend(kind);
    }
    let rt = builder.build()?;
    if let Some(kind) = backend
        && rt.backend_name() != kind.name()
    {
        return Err(io::Error::other(format!(
            "the {} backend is not available here (running on {})",
            kind.name(),
            rt.backend_name()
        )));
    }
    let (config, stats) = http_state();
    rt.block_on(async move {
        let listener = net::TcpListener::bind("127.0.0.1:0").await?;
        announce(listener.local_addr()?);
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    eprintln!("evloop: accept: {e}");
                    runtime::time::sleep(ACCEPT_PAUSE).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            match service {
                Service::Echo(buf) => drop(runtime::spawn(async move {
                    let _ = evloop::echo::echo(stream, buf).await;
                })),
                Service::Http => drop(runtime::spawn(async move {
                    let _ =
                        evloop::http::serve_connection(stream, config, &EvloopSleeper, stats).await;
                })),
                Service::Hyper => drop(runtime::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .timer(runtime::hyper::EvloopTimer)
                        .serve_connection(stream, hyper::service::service_fn(hello))
                        .await;
                })),
            }
        }
    })
}

/// Runs `f` on a fresh evloop runtime.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    runtime::Runtime::new().expect("evloop runtime").block_on(f)
}

crate::micro::suite!(
    on_evloop,
    crate::evloop_side::block_on,
    runtime::spawn,
    runtime::time::sleep
);

/// Runs a task workload on evloop.
pub fn micro(m: Micro) -> String {
    match m {
        // evloop's `Sleep` is `Unpin`: held in place, as a user would hold it.
        Micro::EqualTimers {
            n,
            common,
            shuffled,
        } => {
            let order = crate::micro::drop_order(n, shuffled);
            block_on(async move {
                let start = crate::micro::thread_cpu_secs();
                let sleeps: Vec<_> = if common {
                    let ct = runtime::time::CommonTimeout::new(crate::micro::EQUAL_TIMER);
                    (0..n).map(|_| Some(ct.sleep())).collect()
                } else {
                    (0..n)
                        .map(|_| Some(runtime::time::sleep(crate::micro::EQUAL_TIMER)))
                        .collect()
                };
                crate::micro::arm_and_cancel(sleeps, &order, start).await
            })
        }
        // The sleeper at priority 0 of 3, the busy tasks at the middle one.
        Micro::PriorityLatency {
            ticks,
            priorities: true,
        } => {
            let rt = runtime::Builder::new()
                .priorities(3)
                .build()
                .expect("evloop runtime");
            rt.block_on(async move {
                let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
                let workers: Vec<_> = (0..crate::micro::BUSY_TASKS)
                    .map(|_| runtime::spawn(crate::micro::busy(stop.clone())))
                    .collect();
                let ticker = crate::micro::ticker(ticks, stop, runtime::time::sleep);
                let line = runtime::spawn_with_priority(0, ticker)
                    .await
                    .expect("ticker");
                for w in workers {
                    w.await.expect("busy task");
                }
                line
            })
        }
        m => on_evloop::run(m),
    }
}
