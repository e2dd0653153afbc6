//! `cargo fuzz run timer_heap`: see [`evloop_fuzz::timer_heap`] for what is checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| evloop_fuzz::timer_heap::check(data));
