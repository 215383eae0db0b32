//! Faults a server meets in production: a slow client, a stop while requests are in flight.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::*;

fn port_of(url: &str) -> String {
    url.rsplit_once(':').unwrap().1.to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_requests_in_flight_then_exits() {
    let work = tempfile::tempdir().unwrap();
    let mut server = ServerProcess::start(work.path(), test_database().await).await;
    let addr = format!("127.0.0.1:{}", port_of(&server.url));
    // A request whose body is still coming when the stop is asked for, and that cannot be
    // answered before it has come (signing in reads the form first; a route that refused the
    // caller from the headers alone would have answered already).
    let body = b"username=nobody&password=wrong-password&next=";
    let mut conn = TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /api/login HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\n\r\n",
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_s3_store_that_is_down_answers_503_in_bounded_time_and_recovers() {
    let f = TestApp::with_projects().await;
    let a = &f.app;
    let script = r#"mkdir -p "$CIRCLE_ARTIFACTS/r" && echo '<p>report</p>' > "$CIRCLE_ARTIFACTS/r/index.html""#;
    assert_ok(&a.run_build(&f.private_build_token, "gh/acme/secret", "main", script).await);
    // A second server that reaches the store over the network; then the store goes away.
    let (_data, b) = a.beside(None, UploadSettings::default()).await;
    let s3_addr: std::net::SocketAddr =
        a.running.s3_endpoint.clone().unwrap().trim_start_matches("http://").parse().unwrap();
    a.running.stop.send(true).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let route =
        format!("{}/api/v1.1/project/gh/acme/secret/1/artifacts/0/$CIRCLE_ARTIFACTS/r/index.html", b.public_url);
    // Opened as a browser opens a page: on the artifacts origin, which streams from the store.
    let open_report = || async {
        let r = a.http.get(&route).header("Circle-Token", &f.member_token).header("Sec-Fetch-Mode", "navigate");
        let r = r.send().await.unwrap();
        assert_eq!(r.status().as_u16(), 302, "the route needs no S3 call");
        let location = r.headers()["location"].to_str().unwrap().to_owned();
        reqwest::get(&location).await.unwrap()
    };
    let started = Instant::now();
    let page = open_report().await;
    assert_eq!(page.status().as_u16(), 503);
    assert!(page.text().await.unwrap().contains("not answering"));
    assert!(started.elapsed() < Duration::from_secs(25), "answered after {:?}", started.elapsed());
    let listing = format!("{}/api/v1.1/project/gh/acme/secret/1/artifacts", b.public_url);
    let r = a.http.get(&listing).header("Circle-Token", &f.member_token).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200, "what needs only the database still works");

    // The store comes back on the same address: served again, no restart.
    let (_keep, signal) = tokio::sync::watch::channel(false);
    let _store = vitrine::serve::start_embedded_s3(a.data_dir(), s3_addr, signal).await.unwrap();
    let page = open_report().await;
    assert_eq!(page.status().as_u16(), 200);
    assert_eq!(page.text().await.unwrap(), "<p>report</p>\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_sqlite_database_makes_writes_wait_never_fail() {
    use sqlx::Connection;
    let f = TestApp::with_projects_on(UploadSettings::default(), None).await;
    // Another process holds SQLite's write lock (a backup, an admin command, a second server).
    let db = f.app.data_dir().join("vitrine.db");
    let mut holder = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display())).await.unwrap();
    sqlx::query("BEGIN IMMEDIATE").execute(&mut holder).await.unwrap();

    let starts = (0..6).map(|_| {
        let (url, token) = (f.app.url.clone(), f.private_build_token.clone());
        tokio::spawn(async move {
            let r = reqwest::Client::new()
                .post(format!("{url}/api/agent/projects/gh/acme/secret/builds"))
                .header("Circle-Token", token)
                .header(vitrine_wire::agent::PROTOCOL_HEADER, vitrine_wire::agent::PROTOCOL_VERSION.to_string())
                .json(&serde_json::json!({"branch": "main"}))
                .send()
                .await
                .unwrap();
            r.status().as_u16()
        })
    });
    let starts: Vec<_> = starts.collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(starts.iter().all(|s| !s.is_finished()), "the writes wait for the lock");
    sqlx::query("COMMIT").execute(&mut holder).await.unwrap();
    let mut numbers = vec![];
    for start in starts {
        assert_eq!(start.await.unwrap(), 200, "a write that waited for the lock succeeds");
    }
    let (status, builds) = f.app.get_json("/api/v1.1/project/gh/acme/secret?limit=10", Some(&f.member_token)).await;
    assert_eq!(status, 200);
    numbers.extend(builds.as_array().unwrap().iter().map(|b| b["build_num"].as_i64().unwrap()));
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=6).collect::<Vec<_>>());
}
