//! What the runtime's test files share.

use runtime::__private::{DEFAULT_TEST_TIMEOUT, Watchdog};

/// Starts the watchdog of the calling plain `#[test]` (the one `#[runtime::test]` puts
/// around its tests): if the test has not finished within 60 s, the test process
/// aborts, naming it.
pub fn watchdog() -> Watchdog {
    Watchdog::for_current_test(DEFAULT_TEST_TIMEOUT)
}
