//! `cargo fuzz run buf_stream`: see [`evloop_fuzz::buf_stream`] for what is checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| evloop_fuzz::buf_stream::check(data));
