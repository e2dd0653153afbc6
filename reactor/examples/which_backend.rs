//! Prints the backend a default reactor opens (honouring `EVLOOP_BACKEND`): for scripts
//! that need to know whether, say, io_uring is really in use or fell back to epoll.
//!
//! ```text
//! $ EVLOOP_BACKEND=uring cargo run -q -p reactor --example which_backend
//! uring
//! ```

fn main() -> std::io::Result<()> {
    let reactor = reactor::Reactor::new()?;
    println!("{}", reactor.backend_name());
    Ok(())
}
