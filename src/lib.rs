//! evloop: examples, integration tests and benchmarks for the evloop crates.
