#[runtime::test(backend = "iouring")]
async fn unknown_backend() {}

#[runtime::main(backend = "select")]
async fn unknown_backend_for_main() {}

#[runtime::test(backend = poll)]
async fn not_a_string() {}

#[runtime::test(backend = "poll", backend = "epoll")]
async fn twice() {}

#[runtime::main(crate = "not a path")]
async fn main() {}
