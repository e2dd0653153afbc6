//! Feature `hyper`: a hyper 1.x HTTP/1 server on evloop answers a hyper client on
//! evloop, a raw HTTP/1.1 client, and `curl` where it is installed.
#![cfg(feature = "hyper")]

mod common;

use std::convert::Infallible;
use std::io;

use bytes::Bytes;
use common::run;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use reactor::BackendKind;
use runtime::hyper::EvloopTimer;

async fn hello(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_owned();
    let body = req.into_body().collect().await.map(|b| b.to_bytes());
    let len = body.map(|b| b.len()).unwrap_or(0);
    Ok(Response::new(Full::new(Bytes::from(format!(
        "hello from evloop: {path} ({len} bytes)"
    )))))
}

/// Serves HTTP/1 on `listener` for `connections` connections.
async fn serve(listener: net::TcpListener, connections: usize) -> io::Result<()> {
    for _ in 0..connections {
        let (stream, _) = listener.accept().await?;
        drop(runtime::spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(EvloopTimer)
                .serve_connection(stream, hyper::service::service_fn(hello));
            if let Err(e) = conn.await {
                eprintln!("connection: {e}");
            }
        }));
    }
    Ok(())
}

fn hyper_client_and_server(kind: BackendKind) {
    run(kind, async {
        let listener = net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = runtime::spawn(serve(listener, 1));

        let stream = net::TcpStream::connect(addr).await.unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(stream).await.unwrap();
        let conn = runtime::spawn(conn);
        for i in 0..3 {
            let req = Request::post(format!("/req/{i}"))
                .header(hyper::header::HOST, addr.to_string())
                .body(Full::new(Bytes::from(vec![b'x'; 1000 * i])))
                .unwrap();
            let resp = sender.send_request(req).await.unwrap();
            assert_eq!(resp.status(), 200);
            let body = resp.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(
                body,
                format!("hello from evloop: /req/{i} ({} bytes)", 1000 * i)
            );
        }
        drop(sender);
        conn.await.unwrap().unwrap();
        server.await.unwrap().unwrap();
    });
}

/// A client that is not hyper: a raw HTTP/1.1 request over a std socket, always; and
/// `curl` too where it is installed.
fn other_clients_against_hyper_server(kind: BackendKind) {
    run(kind, async {
        let listener = net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let curl = std::path::Path::new("/usr/bin/curl").exists();
        let server = runtime::spawn(serve(listener, if curl { 2 } else { 1 }));
        let raw = runtime::spawn_blocking(move || -> io::Result<String> {
            use std::io::{Read, Write};
            let mut s = std::net::TcpStream::connect(addr)?;
            s.set_read_timeout(Some(std::time::Duration::from_secs(20)))?;
            s.write_all(
                b"POST /raw HTTP/1.1\r\nHost: evloop\r\nContent-Length: 5\r\n\
                  Connection: close\r\n\r\nhello",
            )?;
            let mut response = String::new();
            s.read_to_string(&mut response)?;
            Ok(response)
        })
        .await
        .unwrap()
        .unwrap();
        assert!(raw.starts_with("HTTP/1.1 200 OK\r\n"), "{raw}");
        assert!(
            raw.ends_with("\r\n\r\nhello from evloop: /raw (5 bytes)"),
            "{raw}"
        );
        if curl {
            let out = runtime::spawn_blocking(move || {
                std::process::Command::new("/usr/bin/curl")
                    .args(["-sS", "--max-time", "20"])
                    .arg(format!("http://{addr}/curl"))
                    .output()
            })
            .await
            .unwrap()
            .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(
                String::from_utf8_lossy(&out.stdout),
                "hello from evloop: /curl (0 bytes)"
            );
        } else {
            eprintln!("curl is not installed: checked with the raw client only");
        }
        server.await.unwrap().unwrap();
    });
}

per_backend!(hyper_client_and_server, other_clients_against_hyper_server);
