//! A load generator for echo_server: see [`evloop::examples::echo_client`].
fn main() -> std::process::ExitCode {
    evloop::examples::echo_client::main()
}
