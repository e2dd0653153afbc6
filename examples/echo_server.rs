//! An echo server on evloop: see [`evloop::examples::echo_server`].
fn main() -> std::process::ExitCode {
    evloop::examples::echo_server::main()
}
