//! `async fn main()` without a return type.

#[runtime::main]
async fn main() {
    let answer = runtime::spawn(async { 42 }).await.unwrap();
    assert_eq!(answer, 42);
}
