//! `runtime::fs` on the blocking pool: round trips, and the OS errors for bad paths.

use std::io::ErrorKind;
use std::path::PathBuf;

use runtime::{Runtime, fs};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("evloop-fs-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn write_read_copy_rename_remove() {
    let dir = scratch("roundtrip");
    Runtime::new().unwrap().block_on(async {
        fs::create_dir_all(dir.join("a/b")).await.unwrap();
        let f = dir.join("a/b/f");
        fs::write(&f, b"0123456789").await.unwrap();
        assert_eq!(fs::read(&f).await.unwrap(), b"0123456789");
        assert_eq!(fs::copy(&f, dir.join("g")).await.unwrap(), 10);
        fs::rename(dir.join("g"), dir.join("h")).await.unwrap();
        assert_eq!(
            fs::read_to_string(dir.join("h")).await.unwrap(),
            "0123456789"
        );
        assert!(fs::metadata(dir.join("a")).await.unwrap().is_dir());
        fs::remove_file(dir.join("h")).await.unwrap();
        assert_eq!(
            fs::metadata(dir.join("h")).await.unwrap_err().kind(),
            ErrorKind::NotFound
        );
    });
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn missing_file_is_not_found() {
    let dir = scratch("missing");
    Runtime::new().unwrap().block_on(async {
        let missing = dir.join("nope");
        assert_eq!(
            fs::read(&missing).await.unwrap_err().kind(),
            ErrorKind::NotFound
        );
        assert_eq!(
            fs::remove_file(&missing).await.unwrap_err().kind(),
            ErrorKind::NotFound
        );
        assert_eq!(
            fs::write(missing.join("x"), "y").await.unwrap_err().kind(),
            ErrorKind::NotFound
        );
    });
}

#[test]
fn non_utf8_is_invalid_data() {
    let dir = scratch("utf8");
    std::fs::create_dir_all(&dir).unwrap();
    Runtime::new().unwrap().block_on(async {
        let f = dir.join("bin");
        fs::write(&f, [0xff, 0xfe]).await.unwrap();
        assert_eq!(
            fs::read_to_string(&f).await.unwrap_err().kind(),
            ErrorKind::InvalidData
        );
    });
    std::fs::remove_dir_all(&dir).unwrap();
}
