//! Feature `tokio-io`: tokio's I/O utilities run over evloop streams.
#![cfg(feature = "tokio-io")]

mod common;

use common::{connected_pair, fill, join2, run};
use reactor::BackendKind;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn tokio_copy_echoes(kind: BackendKind) {
    run(kind, async {
        let (client, server) = connected_pair().await;
        let echo = runtime::spawn(async move {
            let (mut rd, mut wr) = (&server, &server);
            let n = tokio::io::copy(&mut rd, &mut wr).await?;
            AsyncWriteExt::shutdown(&mut wr).await?;
            Ok::<_, std::io::Error>(n)
        });
        let mut data = vec![0; 4 << 20];
        fill(5, 0, &mut data);
        let mut back = Vec::new();
        let (mut rd, mut wr) = (&client, &client);
        let writing = async {
            AsyncWriteExt::write_all(&mut wr, &data).await.unwrap();
            AsyncWriteExt::shutdown(&mut wr).await.unwrap();
        };
        let reading = async { AsyncReadExt::read_to_end(&mut rd, &mut back).await.unwrap() };
        let ((), n) = join2(writing, reading).await;
        assert_eq!(n, data.len());
        assert!(back == data);
        assert_eq!(echo.await.unwrap().unwrap(), data.len() as u64);
    });
}

fn tokio_traits_on_halves_and_unix(kind: BackendKind) {
    run(kind, async {
        // Called through the traits: the inherent methods of the same names would win.
        let (mut a, mut b) = net::UnixStream::pair().unwrap();
        AsyncWriteExt::write_all(&mut a, b"unix").await.unwrap();
        let mut buf = [0; 4];
        AsyncReadExt::read_exact(&mut b, &mut buf).await.unwrap();
        assert_eq!(&buf, b"unix");

        let (client, server) = connected_pair().await;
        let (_rd, mut wr) = client.into_split();
        let (mut rd, _wr) = server.into_split();
        AsyncWriteExt::write_all(&mut wr, b"halves").await.unwrap();
        AsyncWriteExt::shutdown(&mut wr).await.unwrap();
        let mut buf = Vec::new();
        AsyncReadExt::read_to_end(&mut rd, &mut buf).await.unwrap();
        assert_eq!(buf, b"halves");
    });
}

per_backend!(tokio_copy_echoes, tokio_traits_on_halves_and_unix);
