//! Every backend name that `reactor::BackendKind::from_name` accepts is accepted by
//! both attributes. The file is built as a binary, where the tests are compiled out;
//! `main` runs each `#[runtime::main]` function: it runs on a backend this system has
//! (io_uring falls back to epoll where the kernel refuses it), and panics on one it
//! lacks with the reactor's "not available" error, never with "unknown".

#[runtime::test(backend = "epoll")]
async fn test_on_epoll() {}

#[runtime::test(backend = "kqueue")]
async fn test_on_kqueue() {}

#[runtime::test(backend = "poll")]
async fn test_on_poll() {}

#[runtime::test(backend = "uring")]
async fn test_on_uring() {}

#[runtime::test(backend = "io_uring")]
async fn test_on_io_uring() {}

#[runtime::main(backend = "epoll")]
async fn main_on_epoll() {}

#[runtime::main(backend = "kqueue")]
async fn main_on_kqueue() {}

#[runtime::main(backend = "poll")]
async fn main_on_poll() {}

#[runtime::main(backend = "uring")]
async fn main_on_uring() {}

#[runtime::main(backend = "io_uring")]
async fn main_on_io_uring() {}

fn main() {
    let mains: [(&str, fn()); 5] = [
        ("epoll", main_on_epoll),
        ("kqueue", main_on_kqueue),
        ("poll", main_on_poll),
        ("uring", main_on_uring),
        ("io_uring", main_on_io_uring),
    ];
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let outcomes: Vec<(&str, Result<(), String>)> = mains
        .into_iter()
        .map(|(name, run)| {
            let outcome = std::panic::catch_unwind(run).map_err(|payload| {
                payload
                    .downcast_ref::<String>()
                    .cloned()
                    .unwrap_or_default()
            });
            (name, outcome)
        })
        .collect();
    std::panic::set_hook(default_hook);
    for (name, outcome) in outcomes {
        if let Err(message) = outcome {
            assert_ne!(name, "poll", "every system has poll: {message}");
            assert!(
                message.contains("not available") && !message.contains("unknown"),
                "backend = {name:?}: {message}"
            );
        }
    }
}
