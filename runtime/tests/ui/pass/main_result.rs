//! `async fn main()` returning a `Result`: `?` and `Ok(())` are inferred against it.

use std::error::Error;

#[runtime::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let n: u32 = "7".parse()?;
    assert_eq!(n, 7);
    Ok(())
}
