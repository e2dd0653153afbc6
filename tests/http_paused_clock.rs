//! `evloop::http` counts its timeouts on the runtime's clock (`Sleeper::now`), so under a
//! paused clock each one ends exactly its length after the read that armed it, however
//! much real time went by in between.

use std::time::Duration;

use evloop::http::{Config, RuntimeSleeper, Stats, serve_connection};
use futures::io::AsyncReadExt;
use net::{TcpListener, TcpStream};

#[test]
fn a_header_timeout_under_a_paused_clock_is_exactly_its_length() {
    let header_timeout = Config::default().header_timeout;
    let rt = runtime::Builder::new().start_paused(true).build().unwrap();
    let (elapsed, answer) = rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = runtime::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let (config, stats) = (Config::default(), Stats::default());
            serve_connection(stream, &config, &RuntimeSleeper, &stats).await
        });
        let mut client = TcpStream::connect(addr).await.unwrap();
        let start = runtime::time::now();
        // The real clock moves on while the loop stands still (the paused one does not).
        std::thread::sleep(Duration::from_millis(100));
        client.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        let mut answer = Vec::new();
        client.read_to_end(&mut answer).await.unwrap();
        let elapsed = runtime::time::now() - start;
        server.await.unwrap().unwrap();
        (elapsed, String::from_utf8_lossy(&answer).into_owned())
    });
    assert!(
        answer.starts_with("HTTP/1.1 408 "),
        "a head cut short times out: {answer:?}"
    );
    // Armed by the read of the partial head, at `start` on the paused clock: with the
    // real clock it would end 100 ms later or more.
    assert_eq!(elapsed, header_timeout);
}
