//! `runtime::fs::File`, `OpenOptions` and `read_dir`: positions across reads, writes and
//! seeks, write-behind errors, end of file, and directories larger than one batch.

use std::collections::BTreeSet;
use std::io::{ErrorKind, SeekFrom};
use std::path::PathBuf;

use std::pin::Pin;
use std::task::Poll;

use futures::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use runtime::{Runtime, fs};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("evloop-fs-file-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A runtime whose blocking pool has one thread, so a job queued behind a held one
/// cannot have run.
fn one_pool_thread() -> Runtime {
    Runtime::builder().max_blocking_threads(1).build().unwrap()
}

/// Starts a read of up to 64 bytes and abandons it, as a timed-out read future would.
/// The pool job's bytes stay in the file as read-ahead, for the next reads. The pool's
/// one thread is held while the read is polled, so that poll is pending.
async fn abandon_a_read(file: &mut fs::File) {
    let (release, gate) = std::sync::mpsc::channel::<()>();
    let held = runtime::spawn_blocking(move || gate.recv());
    let mut big = [0; 64];
    let first = std::future::poll_fn(|cx| {
        Poll::Ready(futures::io::AsyncRead::poll_read(
            Pin::new(&mut *file),
            cx,
            &mut big,
        ))
    })
    .await;
    assert!(
        first.is_pending(),
        "the read waits behind the held pool thread"
    );
    release.send(()).unwrap();
    held.await.unwrap().unwrap();
}

/// Bytes that differ at every offset of a long run, so a misplaced chunk shows.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

#[test]
fn large_file_round_trips_byte_for_byte() {
    let dir = scratch("large");
    let path = dir.join("f");
    // Larger than one pool job (2 MiB), written and read in odd-sized pieces.
    let data = pattern(5 * 1024 * 1024 + 123);
    one_pool_thread().block_on(async {
        let mut file = fs::File::create(&path).await.unwrap();
        for piece in data.chunks(777_777) {
            file.write_all(piece).await.unwrap();
        }
        file.flush().await.unwrap();
        drop(file);

        let mut file = fs::File::open(&path).await.unwrap();
        let mut back = Vec::new();
        let mut chunk = vec![0; 65_536];
        loop {
            let n = file.read(&mut chunk).await.unwrap();
            if n == 0 {
                break;
            }
            back.extend_from_slice(&chunk[..n]);
        }
        assert_eq!(back.len(), data.len());
        assert!(back == data, "the bytes read differ from those written");
        assert_eq!(file.metadata().await.unwrap().len(), data.len() as u64);
    });
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn write_after_read_lands_where_the_reader_stopped() {
    let dir = scratch("rw");
    let path = dir.join("f");
    std::fs::write(&path, "hello world").unwrap();
    one_pool_thread().block_on(async {
        let mut file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .await
            .unwrap();
        abandon_a_read(&mut file).await;
        let mut five = [0; 5];
        file.read_exact(&mut five).await.unwrap();
        assert_eq!(&five, b"hello");
        // The pool read the whole file ahead; the write goes where the caller stopped.
        file.write_all(b"XYZ").await.unwrap();
        file.flush().await.unwrap();
        assert_eq!(file.stream_position().await.unwrap(), 8);
        let mut rest = String::new();
        file.read_to_string(&mut rest).await.unwrap();
        assert_eq!(rest, "rld");
    });
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "helloXYZrld");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn seeks_count_the_read_ahead() {
    let dir = scratch("seek");
    let path = dir.join("f");
    std::fs::write(&path, "0123456789").unwrap();
    one_pool_thread().block_on(async {
        let mut file = fs::File::open(&path).await.unwrap();
        abandon_a_read(&mut file).await;
        let mut two = [0; 2];
        file.read_exact(&mut two).await.unwrap();
        assert_eq!(file.seek(SeekFrom::Current(3)).await.unwrap(), 5);
        file.read_exact(&mut two).await.unwrap();
        assert_eq!(&two, b"56");
        assert_eq!(file.seek(SeekFrom::End(-1)).await.unwrap(), 9);
        file.read_exact(&mut two[..1]).await.unwrap();
        assert_eq!(two[0], b'9');
        assert_eq!(file.seek(SeekFrom::Start(1)).await.unwrap(), 1);
        file.read_exact(&mut two).await.unwrap();
        assert_eq!(&two, b"12");
        // Before the start: the OS error.
        let err = file.seek(SeekFrom::Current(-100)).await.unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EINVAL));
        // The file goes on after the error.
        assert_eq!(file.seek(SeekFrom::Start(0)).await.unwrap(), 0);
    });
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn end_of_file_reads_zero_until_the_file_grows() {
    let dir = scratch("eof");
    let path = dir.join("f");
    std::fs::write(&path, "ab").unwrap();
    one_pool_thread().block_on(async {
        let mut file = fs::File::open(&path).await.unwrap();
        let mut buf = [0; 8];
        assert_eq!(file.read(&mut buf).await.unwrap(), 2);
        assert_eq!(file.read(&mut buf).await.unwrap(), 0);
        assert_eq!(file.read(&mut buf).await.unwrap(), 0);
        let mut appender = fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .await
            .unwrap();
        appender.write_all(b"cd").await.unwrap();
        appender.flush().await.unwrap();
        assert_eq!(file.read(&mut buf).await.unwrap(), 2);
        assert_eq!(&buf[..2], b"cd");
    });
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn writing_a_file_opened_for_reading_reports_the_os_error() {
    let dir = scratch("ro");
    let path = dir.join("f");
    std::fs::write(&path, "data").unwrap();
    one_pool_thread().block_on(async {
        let mut file = fs::File::open(&path).await.unwrap();
        // Write-behind: the write is accepted, and the OS error comes with the flush.
        let accepted = file.write(b"nope").await;
        let err = match accepted {
            Ok(n) => {
                assert_eq!(n, 4);
                file.flush().await.unwrap_err()
            }
            Err(e) => e,
        };
        assert_eq!(err.raw_os_error(), Some(libc::EBADF), "{err}");
        // The error is reported once; the file still reads.
        file.flush().await.unwrap();
        let mut back = String::new();
        file.seek(SeekFrom::Start(0)).await.unwrap();
        file.read_to_string(&mut back).await.unwrap();
        assert_eq!(back, "data");
    });
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn set_len_keeps_the_callers_position() {
    let dir = scratch("set_len");
    let path = dir.join("f");
    std::fs::write(&path, "0123456789").unwrap();
    one_pool_thread().block_on(async {
        let mut file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .await
            .unwrap();
        abandon_a_read(&mut file).await;
        let mut three = [0; 3];
        file.read_exact(&mut three).await.unwrap();
        file.set_len(6).await.unwrap();
        assert_eq!(file.stream_position().await.unwrap(), 3);
        let mut rest = String::new();
        file.read_to_string(&mut rest).await.unwrap();
        assert_eq!(rest, "345");
        file.sync_all().await.unwrap();
        file.sync_data().await.unwrap();
    });
    assert_eq!(std::fs::read(&path).unwrap(), b"012345");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn open_options_errors_are_the_os_errors() {
    let dir = scratch("open");
    let path = dir.join("f");
    one_pool_thread().block_on(async {
        let missing = fs::File::open(dir.join("missing")).await.unwrap_err();
        assert_eq!(missing.kind(), ErrorKind::NotFound);
        drop(fs::File::create_new(&path).await.unwrap());
        let exists = fs::File::create_new(&path).await.unwrap_err();
        assert_eq!(exists.kind(), ErrorKind::AlreadyExists);
        let dir_as_file = fs::OpenOptions::new()
            .write(true)
            .open(&dir)
            .await
            .unwrap_err();
        assert_eq!(dir_as_file.raw_os_error(), Some(libc::EISDIR));
        let no_follow = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY)
            .open(&path)
            .await
            .unwrap_err();
        assert_eq!(no_follow.raw_os_error(), Some(libc::ENOTDIR));
    });
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn clones_share_the_position_and_std_round_trips() {
    let dir = scratch("clone");
    let path = dir.join("f");
    std::fs::write(&path, "abcdef").unwrap();
    one_pool_thread().block_on(async {
        let mut file = fs::File::open(&path).await.unwrap();
        abandon_a_read(&mut file).await;
        let mut two = [0; 2];
        file.read_exact(&mut two).await.unwrap();
        // `into_std` gives the read-ahead back: the std file is at 2.
        let mut std = file.into_std().await.unwrap();
        assert_eq!(std::io::Seek::stream_position(&mut std).unwrap(), 2);
        let mut file = fs::File::from_std(std);
        let mut clone = file.try_clone().await.unwrap();
        abandon_a_read(&mut clone).await;
        clone.read_exact(&mut two).await.unwrap();
        assert_eq!(&two, b"cd");
        let mut std = clone.try_into_std().expect_err("read-ahead is held");
        std.seek(SeekFrom::Current(0)).await.unwrap();
        let mut std = std.try_into_std().expect("idle, nothing read ahead");
        assert_eq!(std::io::Seek::stream_position(&mut std).unwrap(), 4);
        file.read_exact(&mut two).await.unwrap();
        assert_eq!(&two, b"ef");
    });
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn read_dir_lists_more_than_one_batch() {
    let dir = scratch("read_dir");
    let mut expected = BTreeSet::new();
    for i in 0..100 {
        let name = format!("f{i:03}");
        std::fs::write(dir.join(&name), "").unwrap();
        expected.insert(name);
    }
    std::fs::create_dir(dir.join("sub")).unwrap();
    expected.insert("sub".to_string());
    one_pool_thread().block_on(async {
        let mut entries = fs::read_dir(&dir).await.unwrap();
        let mut seen = BTreeSet::new();
        while let Some(entry) = entries.next_entry().await.unwrap() {
            assert_eq!(entry.path(), dir.join(entry.file_name()));
            let is_dir = entry.file_type().await.unwrap().is_dir();
            assert_eq!(is_dir, entry.file_name() == "sub");
            assert_eq!(entry.metadata().await.unwrap().is_dir(), is_dir);
            assert!(seen.insert(entry.file_name().into_string().unwrap()));
        }
        assert_eq!(seen, expected);
        // Exhausted stays exhausted.
        assert!(entries.next_entry().await.unwrap().is_none());

        let missing = fs::read_dir(dir.join("missing")).await.unwrap_err();
        assert_eq!(missing.kind(), ErrorKind::NotFound);
        let file = fs::read_dir(dir.join("f000")).await.unwrap_err();
        assert_eq!(file.raw_os_error(), Some(libc::ENOTDIR));
        fs::remove_dir_all(&dir).await.unwrap();
        assert!(!fs::try_exists(&dir).await.unwrap());
    });
}

#[test]
fn read_dir_is_a_stream() {
    use futures::StreamExt;
    let dir = scratch("stream");
    for i in 0..40 {
        std::fs::write(dir.join(format!("{i}")), "").unwrap();
    }
    one_pool_thread().block_on(async {
        let entries = fs::read_dir(&dir).await.unwrap();
        let names: Vec<_> = entries.map(|e| e.unwrap().file_name()).collect().await;
        assert_eq!(names.len(), 40);
    });
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn path_calls_round_trip() {
    let dir = scratch("paths");
    one_pool_thread().block_on(async {
        fs::create_dir(dir.join("d")).await.unwrap();
        assert_eq!(
            fs::create_dir(dir.join("d")).await.unwrap_err().kind(),
            ErrorKind::AlreadyExists
        );
        fs::write(dir.join("d/f"), "x").await.unwrap();
        assert_eq!(
            fs::remove_dir(dir.join("d"))
                .await
                .unwrap_err()
                .raw_os_error(),
            Some(libc::ENOTEMPTY)
        );
        fs::symlink("d/f", dir.join("link")).await.unwrap();
        assert_eq!(
            fs::read_link(dir.join("link")).await.unwrap(),
            PathBuf::from("d/f")
        );
        assert!(
            fs::symlink_metadata(dir.join("link"))
                .await
                .unwrap()
                .is_symlink()
        );
        assert_eq!(
            fs::canonicalize(dir.join("link")).await.unwrap(),
            std::fs::canonicalize(dir.join("d/f")).unwrap()
        );
        fs::hard_link(dir.join("d/f"), dir.join("hard"))
            .await
            .unwrap();
        assert_eq!(fs::read(dir.join("hard")).await.unwrap(), b"x");
        let mut perm = fs::metadata(dir.join("hard")).await.unwrap().permissions();
        perm.set_readonly(true);
        fs::set_permissions(dir.join("hard"), perm).await.unwrap();
        assert!(
            fs::metadata(dir.join("d/f"))
                .await
                .unwrap()
                .permissions()
                .readonly()
        );
        assert!(fs::try_exists(dir.join("d/f")).await.unwrap());
        assert!(!fs::try_exists(dir.join("nope")).await.unwrap());
    });
    std::fs::remove_dir_all(&dir).unwrap();
}

#[cfg(feature = "tokio-io")]
#[test]
fn tokio_seek_counts_the_read_ahead() {
    use tokio::io::AsyncSeek;
    let dir = scratch("tokio_seek");
    let path = dir.join("f");
    std::fs::write(&path, "0123456789").unwrap();
    one_pool_thread().block_on(async {
        let mut file = fs::File::open(&path).await.unwrap();
        abandon_a_read(&mut file).await;
        let mut three = [0; 3];
        file.read_exact(&mut three).await.unwrap();
        // Nothing started: `poll_complete` gives the position the caller sees.
        let at = std::future::poll_fn(|cx| Pin::new(&mut file).poll_complete(cx)).await;
        assert_eq!(at.unwrap(), 3);
        Pin::new(&mut file)
            .start_seek(SeekFrom::Current(4))
            .unwrap();
        // A second start while the first is in flight is refused.
        let busy = Pin::new(&mut file)
            .start_seek(SeekFrom::Start(0))
            .unwrap_err();
        assert_eq!(busy.kind(), ErrorKind::Other);
        let at = std::future::poll_fn(|cx| Pin::new(&mut file).poll_complete(cx)).await;
        assert_eq!(at.unwrap(), 7);
        file.read_exact(&mut three).await.unwrap();
        assert_eq!(&three, b"789");
    });
    std::fs::remove_dir_all(&dir).unwrap();
}
