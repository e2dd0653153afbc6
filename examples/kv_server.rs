//! A Redis-protocol key-value server on evloop: see [`evloop::examples::kv_server`].
fn main() -> std::process::ExitCode {
    evloop::examples::kv_server::main()
}
