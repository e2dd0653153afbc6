//! An HTTP/1.1 server on evloop, hardened against hostile clients: see [`evloop::examples::http_server`].
fn main() -> std::process::ExitCode {
    evloop::examples::http_server::main()
}
