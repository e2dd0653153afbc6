#[runtime::test(start_paused = "yes")]
async fn a_string() {}

#[runtime::test(start_paused = 1)]
async fn a_number() {}

#[runtime::test(start_paused)]
async fn no_value_given() {}

fn main() {}
