//! `#[runtime::test]` functions. The file is built as a binary, where tests are
//! compiled out; the tests in `tests/macros.rs` run the same forms.

#[runtime::test]
async fn unit() {}

#[runtime::test(backend = "poll")]
async fn result() -> Result<(), std::num::ParseIntError> {
    let _: u8 = "1".parse()?;
    Ok(())
}

#[runtime::test]
#[should_panic(expected = "boom")]
async fn panics() {
    panic!("boom");
}

#[runtime::test(timeout_secs = 120, backend = "epoll")]
async fn with_a_limit() {}

fn main() {}
