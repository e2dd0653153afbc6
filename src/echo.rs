//! The echo service: everything read is written back.

use std::io;

use futures_io::{AsyncRead, AsyncWrite};

use crate::io::{close, read, write_all};

/// Reads from `stream` and writes every byte back until the peer closes its side (EOF),
/// then closes ours. Returns how many bytes were echoed.
///
/// One buffer of `buf_size` bytes (at least 1) is allocated per call. A half-closed peer
/// still gets everything it sent before its EOF.
pub async fn echo<S>(mut stream: S, buf_size: usize) -> io::Result<u64>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; buf_size.max(1)];
    let mut total = 0u64;
    loop {
        let n = match read(&mut stream, &mut buf).await {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        write_all(&mut stream, &buf[..n]).await?;
        total += n as u64;
    }
    close(&mut stream).await?;
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{MockStream, block_on};

    #[test]
    fn echoes_until_eof_then_closes() {
        let mut s = MockStream::chunks(&[b"hello ", b"world"]);
        let n = block_on(echo(&mut s, 4)).unwrap();
        assert_eq!(n, 11);
        assert_eq!(s.written, b"hello world");
        assert!(s.closed);
    }
}
