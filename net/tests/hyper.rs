//! Feature `hyper`: a hyper 1.x HTTP/1 server on evloop answers a hyper client on
//! evloop, and `curl` where it is installed.
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

fn curl_against_hyper_server(kind: BackendKind) {
    let curl = std::path::Path::new("/usr/bin/curl");
    if !curl.exists() {
        eprintln!("curl is not installed: skipped");
        return;
    }
    run(kind, async {
        let listener = net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = runtime::spawn(serve(listener, 1));
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
        server.await.unwrap().unwrap();
    });
}

per_backend!(hyper_client_and_server, curl_against_hyper_server);
