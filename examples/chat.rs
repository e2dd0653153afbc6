//! A line-based chat server sharing Rc<RefCell<..>> state between tasks: see [`evloop::examples::chat`].
fn main() -> std::process::ExitCode {
    evloop::examples::chat::main()
}
