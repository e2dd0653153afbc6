//! The I/O traits of the stream types, written once: `futures_io` always, tokio's with
//! feature `tokio-io`, hyper's with feature `hyper`.

use crate::source::Source;

/// A type whose I/O goes through one [`Source`].
pub(crate) trait AsSource {
    fn source(&self) -> &Source;
}

impl<T: AsSource + ?Sized> AsSource for &T {
    fn source(&self) -> &Source {
        (**self).source()
    }
}

/// Implements the read traits for a type that is [`AsSource`].
macro_rules! impl_async_read {
    ($(<$lt:lifetime>)? for $ty:ty) => {
        impl$(<$lt>)? futures_io::AsyncRead for $ty {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                $crate::io::AsSource::source(&*self).poll_read(cx, buf)
            }
        }

        #[cfg(feature = "tokio-io")]
        impl$(<$lt>)? tokio::io::AsyncRead for $ty {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut tokio::io::ReadBuf<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                let dst = buf.initialize_unfilled();
                let n = std::task::ready!($crate::io::AsSource::source(&*self).poll_read(cx, dst))?;
                buf.advance(n);
                std::task::Poll::Ready(Ok(()))
            }
        }

        #[cfg(feature = "hyper")]
        impl$(<$lt>)? hyper::rt::Read for $ty {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                mut buf: hyper::rt::ReadBufCursor<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                // SAFETY: the slice is only handed to `recv`, which writes into it and
                // never de-initialises a byte.
                let dst = unsafe { buf.as_mut() };
                let n = std::task::ready!(
                    $crate::io::AsSource::source(&*self).poll_read_uninit(cx, dst)
                )?;
                // SAFETY: `recv` initialised the first `n` bytes of the unfilled part.
                unsafe { buf.advance(n) };
                std::task::Poll::Ready(Ok(()))
            }
        }
    };
}

/// Implements one write trait (`futures_io`'s, tokio's or hyper's: they differ only in
/// the name of the close method and in whether they ask `is_write_vectored`) for a type
/// that is [`AsSource`], all through its source.
macro_rules! impl_write_trait {
    (
        $trait:path, close: $close:ident, $(vectored: $vectored:ident,)?
        $(<$lt:lifetime>)? for $ty:ty
    ) => {
        impl$(<$lt>)? $trait for $ty {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                $crate::io::AsSource::source(&*self).poll_write(cx, buf)
            }

            fn poll_write_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                $crate::io::AsSource::source(&*self).poll_write_vectored(cx, bufs)
            }

            $(
                fn $vectored(&self) -> bool {
                    true
                }
            )?

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                $crate::io::AsSource::source(&*self).poll_flush(cx)
            }

            fn $close(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                $crate::io::AsSource::source(&*self).poll_close(cx)
            }
        }
    };
}

/// Implements the write traits for a type that is [`AsSource`]; closing shuts down the
/// write side.
macro_rules! impl_async_write {
    ($(<$lt:lifetime>)? for $ty:ty) => {
        $crate::io::impl_write_trait!(futures_io::AsyncWrite, close: poll_close, $(<$lt>)? for $ty);

        #[cfg(feature = "tokio-io")]
        $crate::io::impl_write_trait!(
            tokio::io::AsyncWrite, close: poll_shutdown, vectored: is_write_vectored,
            $(<$lt>)? for $ty
        );

        #[cfg(feature = "hyper")]
        $crate::io::impl_write_trait!(
            hyper::rt::Write, close: poll_shutdown, vectored: is_write_vectored,
            $(<$lt>)? for $ty
        );
    };
}

/// Inherent `async fn`s shared by the stream types and their halves: `read`, `write`,
/// `write_vectored`, `write_all`, `read_exact`.
macro_rules! impl_stream_methods {
    (read) => {
        /// Reads some bytes into `buf`; `Ok(0)` means end of stream (or an empty `buf`).
        /// One syscall per call; it waits while nothing is readable.
        pub async fn read(&self, buf: &mut [u8]) -> std::io::Result<usize> {
            let source = $crate::io::AsSource::source(self);
            std::future::poll_fn(|cx| source.poll_read(cx, buf)).await
        }

        /// Reads exactly `buf.len()` bytes; `UnexpectedEof` if the stream ends first.
        pub async fn read_exact(&self, mut buf: &mut [u8]) -> std::io::Result<()> {
            while !buf.is_empty() {
                match self.read(buf).await? {
                    0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
                    n => buf = &mut buf[n..],
                }
            }
            Ok(())
        }
    };
    (write) => {
        /// Writes some of `buf`, returning how much was taken. One syscall per call; it
        /// waits while the socket's send buffer is full.
        pub async fn write(&self, buf: &[u8]) -> std::io::Result<usize> {
            let source = $crate::io::AsSource::source(self);
            std::future::poll_fn(|cx| source.poll_write(cx, buf)).await
        }

        /// Writes some of `bufs` in one `sendmsg`, returning how much was taken.
        pub async fn write_vectored(
            &self,
            bufs: &[std::io::IoSlice<'_>],
        ) -> std::io::Result<usize> {
            let source = $crate::io::AsSource::source(self);
            std::future::poll_fn(|cx| source.poll_write_vectored(cx, bufs)).await
        }

        /// Writes all of `buf`; `WriteZero` if the socket stops taking bytes.
        pub async fn write_all(&self, mut buf: &[u8]) -> std::io::Result<()> {
            while !buf.is_empty() {
                match self.write(buf).await? {
                    0 => return Err(std::io::ErrorKind::WriteZero.into()),
                    n => buf = &buf[n..],
                }
            }
            Ok(())
        }
    };
}

pub(crate) use {impl_async_read, impl_async_write, impl_stream_methods, impl_write_trait};
