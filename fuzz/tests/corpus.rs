//! Replays every committed input, the seed corpora and past findings alike, through the
//! fuzz targets' checks, on stable: a finding turned into a file under `regressions/`
//! stays fixed.

use std::fs;
use std::path::Path;

fn replay(target: &str, check: fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut count = 0;
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("a corpus entry").path();
            let data = fs::read(&path).expect("a corpus file");
            let result = std::panic::catch_unwind(|| check(&data));
            assert!(result.is_ok(), "{target}: {} fails", path.display());
            count += 1;
        }
    }
    assert!(count > 0, "{target} has no committed inputs");
}

#[test]
fn http_head() {
    replay("http_head", evloop_fuzz::http_head::check);
}

#[test]
fn resp() {
    replay("resp", evloop_fuzz::resp::check);
}

#[test]
fn buf_stream() {
    replay("buf_stream", evloop_fuzz::buf_stream::check);
}

#[test]
fn timer_heap() {
    replay("timer_heap", evloop_fuzz::timer_heap::check);
}
