//! The `#[runtime::main]` and `#[runtime::test]` attributes (filled in by the runtime issue).
