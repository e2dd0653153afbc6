#[runtime::test(timeout_secs = "10")]
async fn a_string_limit() {}

#[runtime::test(timeout_secs = 2.5)]
async fn a_fractional_limit() {}

#[runtime::test(timeout_secs = 99999999999999999999999)]
async fn an_overflowing_limit() {}

#[runtime::test(timeout_secs)]
async fn no_limit_given() {}

fn main() {}
