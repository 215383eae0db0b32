//! What an operator relies on: readiness that names what fails, Prometheus metrics for the
//! addresses allowed to read them, and log lines (JSON on request) that never carry a token
//! or a signed URL's signature.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::*;

/// The value of the sample `series` (its whole name and labels, as rendered), or 0.
fn sample(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .map_or(0.0, |value| value.trim().parse().unwrap())
}

async fn metrics(app: &TestApp) -> String {
    let r = app.get("/metrics", None).await;
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    r.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_names_the_part_that_does_not_answer_while_healthz_stays_up() {
    let a = TestApp::start_on(UploadSettings::default(), test_database().await).await;
    let r = a.get("/readyz", None).await;
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.text().await.unwrap(), "ready\n");
    // A second server on the first one's embedded S3 store; then the store goes away.
    let (_data, b) = a.beside(None, UploadSettings::default()).await;
    a.running.stop.send(true).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let r = a.http.get(format!("{}/readyz", b.public_url)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 503);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let why = r.text().await.unwrap();
    assert!(why.contains("S3") && !why.contains("database"), "{why}");
    assert!(started.elapsed() < Duration::from_secs(25), "answered after {:?}", started.elapsed());
    let r = a.http.get(format!("{}/healthz", b.public_url)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200, "healthz is about serving, not about S3");
}

/// A PostgreSQL server of the test's own (scripts/postgres.sh), which the test stops.
struct OwnPostgres {
    dir: tempfile::TempDir,
}

impl OwnPostgres {
    fn start() -> (OwnPostgres, String) {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        // PostgreSQL runs as its own user and must reach its data dir.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port().to_string();
        let out = std::process::Command::new("bash")
            .args(["../scripts/postgres.sh", "start", &dir.path().join("pg").to_string_lossy(), &port])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let url = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        (OwnPostgres { dir }, url)
    }

    fn stop(&self) {
        let pg = self.dir.path().join("pg");
        let stopped = std::process::Command::new("bash")
            .args(["../scripts/postgres.sh", "stop", &pg.to_string_lossy()])
            .status()
            .unwrap();
        assert!(stopped.success());
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Liveness is the process's alone: with its database stopped, a server is still alive
/// (`/healthz` 200, so an orchestrator does not restart it) and not ready (`/readyz` 503,
/// naming the database, so a load balancer sends its traffic elsewhere).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_database_stopped_healthz_is_200_and_readyz_503() {
    // Where PostgreSQL is installed: the PostgreSQL stage of scripts/test.sh.
    if test_database().await.is_none() {
        return;
    }
    let (pg, url) = OwnPostgres::start();
    let a = TestApp::start_on(UploadSettings::default(), Some(url)).await;
    assert_eq!(a.get("/readyz", None).await.status().as_u16(), 200);
    pg.stop();
    let started = Instant::now();
    let r = a.get("/readyz", None).await;
    assert_eq!(r.status().as_u16(), 503);
    let why = r.text().await.unwrap();
    assert!(why.contains("database") && !why.contains("S3"), "{why}");
    assert!(started.elapsed() < Duration::from_secs(25), "answered after {:?}", started.elapsed());
    let r = a.get("/healthz", None).await;
    assert_eq!(r.status().as_u16(), 200, "healthz does not ask the database");
    assert_eq!(r.text().await.unwrap(), "ok\n");
}

/// Build machines get the agent from the server: listed at /downloads/ with its checksum and
/// the lines that install it, served as a download; nothing but agent binaries is reachable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_serves_the_agent_it_was_built_with() {
    let a = TestApp::start().await;
    let downloads = a.data_dir().join("site/downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    let name = "vitrine-agent-x86_64-unknown-linux-gnu";
    let binary = b"\x7fELF an agent build".repeat(1000);
    std::fs::write(downloads.join(name), &binary).unwrap();
    let sum = format!("{:x}", <sha2::Sha256 as sha2::Digest>::digest(&binary));
    std::fs::write(downloads.join(format!("{name}.sha256")), format!("{sum}  {name}\n")).unwrap();
    std::fs::write(a.data_dir().join("site/secret.txt"), "not a download").unwrap();

    let list = a.get("/downloads/", None).await;
    assert_eq!(list.status().as_u16(), 200);
    let text = list.text().await.unwrap();
    assert!(text.contains(&format!("{}/downloads/{name}\n  sha256 {sum}", a.url)), "{text}");
    assert!(text.contains("sha256sum -c") && text.contains("vitrine-agent run --project"), "{text}");

    let got = a.get(&format!("/downloads/{name}"), None).await;
    assert_eq!(got.status().as_u16(), 200);
    assert_eq!(got.headers()["content-type"], "application/octet-stream");
    assert!(got.headers()["content-disposition"].to_str().unwrap().contains(name));
    assert_eq!(got.bytes().await.unwrap().as_ref(), binary.as_slice());
    let checksum = a.get(&format!("/downloads/{name}.sha256"), None).await.text().await.unwrap();
    assert_eq!(checksum, format!("{sum}  {name}\n"));
    for stray in ["/downloads/secret.txt", "/downloads/vitrine-agent-..%2Fsecret.txt", "/downloads/vitrine-agent-arm"] {
        assert_eq!(a.get(stray, None).await.status().as_u16(), 404, "{stray}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_by_route_uploads_s3_and_caches() {
    let f = TestApp::with_projects().await;
    let a = &f.app;
    assert_ok(
        &a.run_build(&f.private_build_token, "gh/acme/secret", "main", "echo x > \"$CIRCLE_ARTIFACTS/x.txt\"").await,
    );
    let listing = "/api/v1.1/project/gh/acme/secret/1/artifacts";
    let series = r#"vitrine_http_requests_total{method="GET",route="/api/v1.1/project/{vcs}/{org}/{repo}/{build_num}/artifacts",status="200"}"#;
    // The registry is the process's (other tests' servers count too): compare before and after.
    let before = sample(&metrics(a).await, series);
    for _ in 0..3 {
        assert_eq!(a.get(listing, Some(&f.member_token)).await.status().as_u16(), 200);
    }
    let text = metrics(a).await;
    assert!(sample(&text, series) >= before + 3.0, "{series} went from {before}:\n{text}");
    for present in [
        r#"vitrine_http_request_duration_seconds_bucket{route="/api/v1.1/project/{vcs}/{org}/{repo}/{build_num}/artifacts",le="0.005"}"#,
        r#"vitrine_http_response_bytes_total{route="/api/v1.1/project/{vcs}/{org}/{repo}/{build_num}/artifacts"}"#,
        r#"vitrine_uploads_total{outcome="verified"}"#,
        r#"vitrine_s3_request_duration_seconds_count{operation="HeadBucket"}"#,
        r#"vitrine_cache_requests_total{cache="tokens",result="hit"}"#,
        r#"vitrine_cache_requests_total{cache="listings",result="miss"}"#,
    ] {
        assert!(sample(&text, present) > 0.0, "no {present} in:\n{text}");
    }
    assert!(text.contains(r#"vitrine_s3_requests_total{operation="HeadBucket",status="#), "{text}");
    assert!(!text.contains(&f.member_token) && !text.contains("gh/acme/secret"), "metrics name routes, not requests");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_refused_to_addresses_not_allowed() {
    let a = TestApp::start_configured(UploadSettings::default(), test_database().await, |config| {
        vitrine::serve::ServeConfig { metrics_allow: vec!["10.0.0.0/8".parse().unwrap()], ..config }
    })
    .await;
    let r = a.get("/metrics", None).await;
    assert_eq!(r.status().as_u16(), 403);
    assert!(r.text().await.unwrap().contains("--metrics-allow"));
}

/// `vitrine serve --log-format json` as a process, its log lines in a file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_have_one_access_line_per_request_and_never_a_secret() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let log_path = work.path().join("server.log");
    let (port, s3, artifacts) = (free_port(), free_port(), free_port());
    let url = format!("http://127.0.0.1:{port}");
    let admin = |args: &[&str], stdin: &str| {
        use std::io::Write;
        let mut child = std::process::Command::new(BIN)
            .args(["admin", "--data-dir", data.to_str().unwrap()])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "admin {args:?}");
        String::from_utf8(out.stdout).unwrap().trim().lines().last().unwrap_or_default().to_owned()
    };
    admin(&["project", "add", "gh/acme/logs"], "");
    admin(&["user", "add", "alice", "--password-stdin"], "alice-password\n");
    admin(&["member", "add", "gh/acme/logs", "alice"], "");
    let token = admin(&["token", "create", "alice"], "");
    let build_token = admin(&["project", "token", "gh/acme/logs"], "");
    let mut server = tokio::process::Command::new(BIN)
        .args(["serve", "--log-format", "json", "--data-dir", data.to_str().unwrap()])
        .args(["--addr", &format!("127.0.0.1:{port}"), "--embedded-s3-addr", &format!("127.0.0.1:{s3}")])
        .args(["--artifacts-addr", &format!("127.0.0.1:{artifacts}")])
        .args(["--trace-viewer-addr", "127.0.0.1:0"])
        .env("VITRINE_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !http.get(format!("{url}/healthz")).send().await.is_ok_and(|r| r.status().is_success()) {
        assert!(Instant::now() < deadline, "the server did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let run = tokio::process::Command::new(BIN)
        .current_dir(work.path())
        .args(["run", "--server", &url, "--token", &build_token, "--project", "gh/acme/logs", "--branch", "main"])
        .args(["--", "sh", "-c", "echo x > \"$CIRCLE_ARTIFACTS/x.txt\""])
        .output()
        .await
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));

    // A token in the query (CircleCI's `circle-token`), a redirect to a signed URL, an id
    // from a proxy in front.
    let artifact =
        format!("{url}/api/v1.1/project/gh/acme/logs/1/artifacts/0/$CIRCLE_ARTIFACTS/x.txt?circle-token={token}");
    let r = http.get(&artifact).header("x-request-id", "from-the-proxy-42").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 302);
    assert_eq!(r.headers()["x-request-id"], "from-the-proxy-42");
    let signed = r.headers()["location"].to_str().unwrap().to_owned();
    let signature = signed.split("X-Amz-Signature=").nth(1).unwrap().to_owned();
    let r = http.get(format!("{url}/api/v1.1/me")).header("Circle-Token", "not-a-token-at-all").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let fresh_id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(fresh_id.len(), 32);

    // The process times its statements (its log subscriber reads sqlx's own events).
    let text = http.get(format!("{url}/metrics")).send().await.unwrap().text().await.unwrap();
    for present in [
        r#"vitrine_db_statement_duration_seconds_count{statement="select"}"#,
        r#"vitrine_db_statement_duration_seconds_count{statement="insert"}"#,
    ] {
        assert!(text.lines().any(|l| l.starts_with(present)), "no {present} in:\n{text}");
    }
    // Log lines are written by a thread of their own: wait until the last request's line is
    // out before the kill, which gives that thread no time to flush.
    for _ in 0..200 {
        if std::fs::read_to_string(&log_path).unwrap_or_default().contains(&fresh_id) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    server.start_kill().unwrap();
    server.wait().await.unwrap();
    let log = std::fs::read_to_string(&log_path).unwrap();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not one JSON object ({e}): {line}")))
        .collect();
    let access = |id: &str| {
        lines
            .iter()
            .find(|l| l["target"] == "vitrine::access" && l["request_id"] == id)
            .unwrap_or_else(|| panic!("no access line for {id} in:\n{log}"))
    };
    let followed = access("from-the-proxy-42");
    assert_eq!(followed["route"], "/api/v1.1/project/{vcs}/{org}/{repo}/{build_num}/artifacts/{node_index}/{*path}");
    assert_eq!(followed["status"], 302);
    assert_eq!(followed["method"], "GET");
    assert!(followed["user_id"].as_i64().is_some() && followed["token_id"].as_i64().is_some(), "{followed}");
    assert!(followed["latency_ms"].as_f64().is_some());
    let refused = access(&fresh_id);
    assert_eq!(refused["status"], 401);
    assert!(refused.get("user_id").is_none_or(serde_json::Value::is_null), "{refused}");
    for secret in [token.as_str(), build_token.as_str(), signature.as_str(), "not-a-token-at-all"] {
        assert!(!log.contains(secret), "the log holds a secret ({secret}):\n{log}");
    }
}

/// Agents and browsers reach the store by the public endpoint's name, the server by its own:
/// URLs are signed for the public name (the embedded store checks every signature).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_urls_name_the_public_s3_endpoint_when_one_is_set() {
    let f = TestApp::with_projects().await;
    let a = &f.app;
    let endpoint = a.running.s3_endpoint.clone().expect("the embedded store");
    let public = endpoint.replace("127.0.0.1", "localhost");
    let mut s3 =
        vitrine::storage::embedded::settings(&vitrine::storage::embedded::read_env_file(a.data_dir()).unwrap());
    s3.public_endpoint = Some(public.clone());
    let data = tempfile::tempdir().unwrap();
    let database_url =
        a.database_url.clone().unwrap_or_else(|| format!("sqlite://{}", a.data_dir().join("vitrine.db").display()));
    let b = vitrine::serve::start(vitrine::serve::ServeConfig {
        s3: Some(s3),
        database_url: Some(database_url),
        ..test_config(data.path(), UploadSettings::default())
    })
    .await
    .unwrap();
    // Uploads through b go to the public name...
    let cwd = tempfile::tempdir().unwrap();
    let script = "head -c 300000 /dev/urandom > \"$CIRCLE_ARTIFACTS/blob.bin\"; echo hi > \"$CIRCLE_ARTIFACTS/a.txt\"";
    let args = ["run", "--server", &b.public_url, "--token", &f.private_build_token, "--project", "gh/acme/secret"];
    let out =
        a.vitrine(cwd.path(), &[&args[..], &["--branch", "main", "--", "bash", "-ec", script]].concat(), &[]).await;
    assert_ok(&out);
    // ...and so do downloads, signed for that name and accepted by the store.
    let route = format!("{}/api/v1.1/project/gh/acme/secret/1/artifacts/0/$CIRCLE_ARTIFACTS/a.txt", b.public_url);
    let r = a.http.get(&route).header("Circle-Token", &f.member_token).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 302);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(&format!("{public}/")), "{location}");
    let got = reqwest::get(&location).await.unwrap();
    assert_eq!(got.status().as_u16(), 200);
    assert_eq!(got.text().await.unwrap(), "hi\n");
}
