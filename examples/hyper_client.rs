//! hyper 1.x on evloop (feature `hyper`): see [`evloop::examples::hyper_client`].
fn main() -> std::process::ExitCode {
    evloop::examples::hyper_client::main()
}
