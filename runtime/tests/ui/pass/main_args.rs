//! The `backend` and `crate` arguments.

mod reexport {
    pub use ::runtime;
}

#[runtime::main(backend = "poll", crate = "crate::reexport::runtime")]
async fn main() {
    assert_eq!(runtime::spawn(async { "polled" }).await.unwrap(), "polled");
}
