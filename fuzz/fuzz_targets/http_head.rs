//! `cargo fuzz run http_head`: see [`evloop_fuzz::http_head`] for what is checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| evloop_fuzz::http_head::check(data));
