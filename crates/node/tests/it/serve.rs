//! The HTTP server over real TCP sockets: header and idle timeouts, the connection cap.

use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use deai_node::{
    http::{router_with, serve, HttpSettings},
    service::Embedded,
};
use deai_store::{BlobStore, EmbeddedChain, EmbeddedConfig};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
};

use crate::ledger_sim::{genesis, users};

struct Server {
    _dir: tempfile::TempDir,
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(15), &mut self.task)
            .await
            .expect("server did not stop")
            .unwrap()
            .unwrap();
    }
}

async fn start(settings: HttpSettings) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let chain = EmbeddedChain::init(
        dir.path().join("chain"),
        &genesis(&users(2)),
        EmbeddedConfig::default(),
    )
    .unwrap();
    let node = Arc::new(Embedded::new(chain));
    let blobs = Arc::new(BlobStore::open(dir.path().join("blobs")).unwrap());
    let app = router_with(node, blobs, 1e6, &settings);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        serve(listener, app, &settings, async move {
            let _ = stopped.await;
        })
        .await
    });
    Server {
        _dir: dir,
        addr,
        stop: Some(stop),
        task,
    }
}

/// Reads until the peer closes (or `limit` passes); returns what was read and when it closed.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (Vec<u8>, Option<Duration>) {
    let started = Instant::now();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(
            limit.saturating_sub(started.elapsed()),
            stream.read(&mut buf),
        )
        .await
        {
            Ok(Ok(0)) | Ok(Err(_)) => return (out, Some(started.elapsed())),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => return (out, None),
        }
    }
}

async fn status_line(addr: SocketAddr) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /v1/status HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let (bytes, _) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    String::from_utf8_lossy(&bytes)
        .lines()
        .next()
        .unwrap_or("")
        .to_string()
}

#[tokio::test]
async fn a_connection_sending_partial_headers_is_closed_after_the_header_timeout() {
    let server = start(HttpSettings {
        header_timeout_ms: 300,
        ..HttpSettings::default()
    })
    .await;
    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    slow.write_all(b"GET /v1/status HTTP/1.1\r\nhost: x\r\nx-slow: ")
        .await
        .unwrap();
    let (_, closed) = read_until_closed(&mut slow, Duration::from_secs(5)).await;
    let closed = closed.expect("the slow connection stayed open");
    assert!(closed >= Duration::from_millis(250), "{closed:?}");
    // A silent connection is closed by the same timer; normal requests still work.
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    assert!(read_until_closed(&mut silent, Duration::from_secs(5))
        .await
        .1
        .is_some());
    assert_eq!(status_line(server.addr).await, "HTTP/1.1 200 OK");
    server.stop().await;
}

#[tokio::test]
async fn a_connection_that_moves_no_bytes_is_closed_after_the_idle_timeout() {
    let server = start(HttpSettings {
        idle_timeout_ms: 200,
        ..HttpSettings::default()
    })
    .await;
    let mut idle = TcpStream::connect(server.addr).await.unwrap();
    let (_, closed) = read_until_closed(&mut idle, Duration::from_secs(5)).await;
    let closed = closed.expect("the idle connection stayed open");
    assert!(closed < Duration::from_secs(3), "{closed:?}");
    server.stop().await;
}

#[tokio::test]
async fn connections_beyond_the_cap_are_refused_with_503() {
    let server = start(HttpSettings {
        max_connections: 2,
        ..HttpSettings::default()
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        // A complete request on a kept-alive connection: it is being served when we go on.
        stream
            .write_all(b"GET /v1/status HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 16];
        stream.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf[..12], b"HTTP/1.1 200");
        held.push(stream);
    }
    let mut third = TcpStream::connect(server.addr).await.unwrap();
    let (bytes, closed) = read_until_closed(&mut third, Duration::from_secs(5)).await;
    assert!(closed.is_some());
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(text.contains("retry-after: 1"), "{text}");
    assert!(
        text.contains("\"error\":\"too_many_connections\""),
        "{text}"
    );
    // Closing a held connection frees its place.
    drop(held.pop());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let line = status_line(server.addr).await;
        if line == "HTTP/1.1 200 OK" {
            break;
        }
        assert!(Instant::now() < deadline, "still refused: {line}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(held);
    server.stop().await;
}
