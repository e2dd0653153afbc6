//! `cargo fuzz run resp`: see [`evloop_fuzz::resp`] for what is checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| evloop_fuzz::resp::check(data));
