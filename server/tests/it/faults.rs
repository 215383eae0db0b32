//! Faults a server meets in production: a slow client, a stop while requests are in flight.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::*;

fn port_of(url: &str) -> String {
    url.rsplit_once(':').unwrap().1.to_owned()
}

#[tokio::test]
async fn sigterm_finishes_requests_in_flight_then_exits() {
    let work = tempfile::tempdir().unwrap();
    let mut server = ServerProcess::start(work.path(), test_database().await).await;
    let addr = format!("127.0.0.1:{}", port_of(&server.url));
    // A request whose body is still coming when the stop is asked for.
    let body = br#"{"branch":"main"}"#;
    let mut conn = TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /api/agent/projects/gh/acme/none/builds HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Circle-Token: nobody\r\nvitrine-agent-protocol: 3\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    conn.write_all(&body[..5]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let pid = server.child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(TcpStream::connect(&addr).await.is_err(), "no new connections once stopping");
    conn.write_all(&body[5..]).await.unwrap();
    let mut answer = Vec::new();
    conn.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 401"), "the request in flight got its answer: {answer}");
    let status = tokio::time::timeout(Duration::from_secs(40), server.child.wait()).await.unwrap().unwrap();
    assert!(status.success(), "a stop asked for is a clean exit: {status}");
}

#[tokio::test]
async fn clients_that_send_headers_slowly_are_cut_off() {
    let app = TestApp::start().await;
    let addr = format!("127.0.0.1:{}", port_of(&app.url));
    let mut conn = TcpStream::connect(&addr).await.unwrap();
    conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    // The rest of the headers never come: the server closes within its header timeout.
    let read = tokio::time::timeout(Duration::from_secs(20), conn.read(&mut buf)).await;
    let elapsed = started.elapsed();
    assert!(read.is_ok(), "the connection was still open after 20 s");
    assert!(elapsed >= Duration::from_secs(5), "cut off too early: {elapsed:?}");
    // Meanwhile and after, other clients are served.
    assert_eq!(app.get("/healthz", None).await.status().as_u16(), 200);
}
