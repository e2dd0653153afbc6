//! `async fn main() -> io::Result<()>`, with doc comments and attributes kept.

use std::io;

/// The entry point.
#[runtime::main]
#[allow(unused_mut)]
pub async fn main() -> io::Result<()> {
    let mut value = io::Result::Ok(3)?;
    assert_eq!(value, 3);
    Ok(())
}
