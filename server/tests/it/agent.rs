//! The agent API directly: nothing unverified is ever listed, a verified object never changes,
//! tokens are scoped, finished builds are closed, limits hold, and abandoned uploads go away.

use std::time::Duration;

use serde_json::{Value, json};
use vitrine::storage::Storage;
use vitrine::storage::embedded::read_env_file;
use vitrine_wire::agent::{PROTOCOL_HEADER, PROTOCOL_VERSION};

use crate::common::*;

async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> (u16, Value) {
    let r = app
        .http
        .post(format!("{}{path}", app.url))
        .header("Circle-Token", token)
        .header(PROTOCOL_HEADER, PROTOCOL_VERSION.to_string())
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or_default())
}

/// Sends `body` through a signed request from a plan, with exactly the headers it was signed
/// with. A store that refuses before it has read the body may close the connection while the
/// body is still being sent: that answers status 0, with the error.
async fn put_signed(app: &TestApp, request: &Value, body: Vec<u8>) -> (u16, String) {
    let mut put = app.http.put(request["url"].as_str().unwrap());
    for pair in request["headers"].as_array().unwrap() {
        let (name, value) = (pair[0].as_str().unwrap(), pair[1].as_str().unwrap());
        if !name.eq_ignore_ascii_case("content-length") {
            put = put.header(name, value);
        }
    }
    match put.body(body).send().await {
        Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
        Err(e) => (0, e.to_string()),
    }
}

/// The store refused a signed request: an error status, or the connection closed on it.
fn refused(status: u16) -> bool {
    status == 0 || status >= 400
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

fn file(path: &str, bytes: &[u8]) -> Value {
    json!({"path": path, "pretty_path": path, "size": bytes.len(), "sha256": sha256(bytes)})
}

const BUILDS: &str = "/api/agent/projects/gh/acme/public-site/builds";
const SECRET: &str = "/api/agent/projects/gh/acme/secret/builds";

async fn listed(app: &TestApp, project: &str, build: i64, token: Option<&str>) -> Vec<Value> {
    let (_, list) = app.get_json(&format!("/api/v1.1/project/{project}/{build}/artifacts"), token).await;
    list.as_array().cloned().unwrap_or_default()
}

async fn storage(app: &TestApp) -> Storage {
    Storage::connect(&vitrine::storage::embedded::settings(&read_env_file(app.data_dir()).unwrap())).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_refuses_other_bytes_and_nothing_unverified_is_listed() {
    nothing_unverified_is_listed_and_nothing_verified_changes(UploadSettings::default()).await;
}

/// The path for stores that do not prove what they hold: copy, then hash the copy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verifying_by_copy_lists_the_same_and_keeps_replays_out() {
    let uploads = UploadSettings { verify_by_copy: true, ..UploadSettings::default() };
    nothing_unverified_is_listed_and_nothing_verified_changes(uploads).await;
}

async fn nothing_unverified_is_listed_and_nothing_verified_changes(uploads: UploadSettings) {
    let f = TestApp::with_projects_and(uploads).await;
    let (app, t) = (&f.app, &f.public_build_token);
    let (status, build) = post(app, t, BUILDS, json!({"branch": "main"})).await;
    assert_eq!(status, 200, "{build}");
    assert_eq!(build["build_num"], 1);

    let declared = b"the real report".to_vec();
    let files = json!([file("report.txt", &declared)]);
    let (status, plan) = post(app, t, &format!("{BUILDS}/1/uploads"), json!({"node_index": 0, "files": files})).await;
    assert_eq!(status, 200, "{plan}");
    let upload = &plan["uploads"][0];
    assert_eq!(upload["action"], "put");
    let signed: Vec<String> = upload["request"]["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h[0].as_str().unwrap().to_ascii_lowercase())
        .collect();
    for header in ["content-length", "x-amz-checksum-sha256", "if-none-match"] {
        assert!(
            upload["request"]["url"].as_str().unwrap().to_ascii_lowercase().contains(header)
                || signed.contains(&header.to_owned()),
            "{header} is part of the signed request: {upload}"
        );
    }
    assert!(listed(app, "gh/acme/public-site", 1, None).await.is_empty(), "nothing listed before confirmation");

    // Same size, other bytes: refused by the store, or at the latest by the server's check.
    let (status, _) = put_signed(app, &upload["request"], b"the fake report".to_vec()).await;
    assert!(refused(status), "the store took other bytes ({status})");
    // More bytes than declared: the signed length does not match.
    let (status, _) = put_signed(app, &upload["request"], b"the real report, and more".to_vec()).await;
    assert!(refused(status), "the store took more bytes than declared ({status})");
    let complete = json!({"uploads": [{"upload_id": upload["upload_id"]}]});
    let (_, done) = post(app, t, &format!("{BUILDS}/1/uploads/complete"), complete.clone()).await;
    let error = done["results"][0]["error"].as_str().unwrap();
    assert!(error.contains("nothing was uploaded") || error.contains("not what was declared"), "{error}");
    assert!(listed(app, "gh/acme/public-site", 1, None).await.is_empty());

    // The honest upload is listed; confirming it again succeeds again (a retried call).
    let (_, plan) = post(app, t, &format!("{BUILDS}/1/uploads"), json!({"node_index": 0, "files": files})).await;
    let upload = plan["uploads"][0].clone();
    assert_eq!(put_signed(app, &upload["request"], declared.clone()).await.0, 200);
    let complete = json!({"uploads": [{"upload_id": upload["upload_id"]}]});
    for _ in 0..2 {
        let (status, done) = post(app, t, &format!("{BUILDS}/1/uploads/complete"), complete.clone()).await;
        assert_eq!(status, 200, "{done}");
        assert_eq!(done["results"][0]["error"], Value::Null, "{done}");
    }

    // Replaying the URL after verification cannot change the stored bytes.
    let (status, _) = put_signed(app, &upload["request"], declared.clone()).await;
    assert!(refused(status), "a replayed upload URL was accepted ({status})");
    let (status, _) = put_signed(app, &upload["request"], b"the fake report".to_vec()).await;
    assert!(refused(status), "a replayed upload URL with other bytes was accepted ({status})");
    let list = listed(app, "gh/acme/public-site", 1, None).await;
    assert_eq!(list.len(), 1);
    assert_eq!(app.download(list[0]["url"].as_str().unwrap(), None).await.1, declared);

    // The same content again in this project is not sent again.
    let again = json!([file("copy.txt", &declared)]);
    let (_, plan) = post(app, t, &format!("{BUILDS}/1/uploads"), json!({"node_index": 0, "files": again})).await;
    assert_eq!(plan["uploads"][0]["action"], "stored");
    let list = listed(app, "gh/acme/public-site", 1, None).await;
    let names: Vec<&str> = list.iter().map(|a| a["pretty_path"].as_str().unwrap()).collect();
    assert_eq!(names, ["copy.txt", "report.txt"]);

    // The stored object counts the artifacts that point at it, also when a path is replaced.
    let db = app.db().await;
    assert_eq!(db.blob_refs(&sha256(&declared)).await.unwrap(), 2);
    let other = b"another copy".to_vec();
    let (_, plan) =
        post(app, t, &format!("{BUILDS}/1/uploads"), json!({"node_index": 0, "files": [file("copy.txt", &other)]}))
            .await;
    assert_eq!(put_signed(app, &plan["uploads"][0]["request"], other.clone()).await.0, 200);
    let complete = json!({"uploads": [{"upload_id": plan["uploads"][0]["upload_id"]}]});
    let (_, done) = post(app, t, &format!("{BUILDS}/1/uploads/complete"), complete).await;
    assert_eq!(done["results"][0]["error"], Value::Null, "{done}");
    assert_eq!(db.blob_refs(&sha256(&declared)).await.unwrap(), 1);
    assert_eq!(db.blob_refs(&sha256(&other)).await.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_hashed_while_sent_are_checked_against_what_the_store_holds() {
    files_hashed_while_sent_are_checked(UploadSettings::default()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_hashed_while_sent_are_checked_on_a_copy_too() {
    files_hashed_while_sent_are_checked(UploadSettings { verify_by_copy: true, ..UploadSettings::default() }).await;
}

/// A big file declared without its SHA-256: the URL fixes its size and `If-None-Match`, the
/// confirmation brings the SHA-256, and the server lists it only when the stored bytes match.
async fn files_hashed_while_sent_are_checked(uploads: UploadSettings) {
    let f = TestApp::with_projects_and(uploads).await;
    let (app, t) = (&f.app, &f.public_build_token);
    post(app, t, BUILDS, json!({"branch": "main"})).await;
    let from = vitrine_wire::agent::HASH_WHILE_SENDING_FROM;
    let big: Vec<u8> = (0..from + 3).map(|i| (i % 253) as u8).collect();
    let unhashed = |path: &str, size: usize| json!({"path": path, "pretty_path": path, "size": size});
    let (plan_path, complete_path) = (format!("{BUILDS}/1/uploads"), format!("{BUILDS}/1/uploads/complete"));
    let plan = |files: Value| post(app, t, &plan_path, json!({"node_index": 0, "files": files}));
    let complete = |upload: &Value, sha: Option<String>| {
        let done = json!({"uploads": [{"upload_id": upload["upload_id"], "sha256": sha}]});
        post(app, t, &complete_path, done)
    };

    let (status, body) = plan(json!([unhashed("small.txt", 10)])).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().unwrap().contains("small.txt: declare its sha256"), "{body}");

    let (status, answer) = plan(json!([unhashed("big.bin", big.len())])).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["hash_while_sending_from"].as_u64(), Some(from));
    let upload = answer["uploads"][0].clone();
    assert_eq!(upload["action"], "put", "{answer}");
    let request = upload["request"].to_string().to_ascii_lowercase();
    assert!(request.contains("if-none-match") && request.contains("content-length"), "{request}");
    // Other bytes of the same size: stored, then refused at confirmation, never listed.
    let mut other = big.clone();
    other[7] ^= 1;
    assert_eq!(put_signed(app, &upload["request"], other.clone()).await.0, 200);
    let (_, done) = complete(&upload, Some(sha256(&big))).await;
    let error = done["results"][0]["error"].as_str().unwrap_or_default();
    assert!(error.contains("the stored object is not what was declared"), "{done}");
    // What the store holds is not told: neither the other bytes' hash nor anything of them.
    assert!(!error.contains(&sha256(&other)), "{error}");
    assert!(listed(app, "gh/acme/public-site", 1, None).await.is_empty());

    let (_, answer) = plan(json!([unhashed("big.bin", big.len())])).await;
    let upload = answer["uploads"][0].clone();
    assert_eq!(upload["action"], "put", "nothing of this size is kept yet: {answer}");
    assert_eq!(put_signed(app, &upload["request"], big.clone()).await.0, 200);
    let (_, done) = complete(&upload, None).await;
    assert!(done["results"][0]["error"].as_str().unwrap_or_default().contains("must bring it"), "{done}");
    let (_, done) = complete(&upload, Some("F".repeat(64))).await;
    assert!(done["results"][0]["error"].as_str().unwrap_or_default().contains("Invalid sha256"), "{done}");
    for _ in 0..2 {
        let (_, done) = complete(&upload, Some(sha256(&big))).await;
        assert_eq!(done["results"][0]["error"], Value::Null, "{done}");
    }
    let (status, _) = put_signed(app, &upload["request"], other).await;
    assert!(refused(status), "a replayed upload URL was accepted ({status})");
    let list = listed(app, "gh/acme/public-site", 1, None).await;
    assert_eq!((list.len(), list[0]["sha256"].as_str()), (1, Some(sha256(&big).as_str())));
    assert_eq!(app.download(list[0]["url"].as_str().unwrap(), None).await.1, big);

    // The project now keeps a file of this size: only its SHA-256 can tell whether this is it.
    for path in ["big.bin", "copy.bin"] {
        let (_, answer) = plan(json!([unhashed(path, big.len())])).await;
        assert_eq!(answer["uploads"][0]["action"], "hash_first", "{answer}");
        let (_, answer) = plan(json!([file(path, &big)])).await;
        assert_eq!(answer["uploads"][0]["action"], "stored", "{answer}");
    }
    assert_eq!(listed(app, "gh/acme/public-site", 1, None).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_projects_content_is_never_reused_even_after_its_urls_expired() {
    let uploads = UploadSettings { url_ttl: Duration::from_secs(1), ..UploadSettings::default() };
    let f = TestApp::with_projects_and(uploads).await;
    let app = &f.app;
    let secret = b"the private project's release key".to_vec();
    let files = json!([file("key.txt", &secret)]);
    post(app, &f.private_build_token, SECRET, json!({"branch": "main"})).await;
    let (_, plan) =
        post(app, &f.private_build_token, &format!("{SECRET}/1/uploads"), json!({"node_index": 0, "files": files}))
            .await;
    assert_eq!(put_signed(app, &plan["uploads"][0]["request"], secret.clone()).await.0, 200);
    let (_, done) = post(
        app,
        &f.private_build_token,
        &format!("{SECRET}/1/uploads/complete"),
        json!({"uploads": [{"upload_id": plan["uploads"][0]["upload_id"]}]}),
    )
    .await;
    assert_eq!(done["results"][0]["error"], Value::Null, "{done}");
    // Well past the upload URL's expiry: the object can no longer change, yet another
    // project that merely knows (sha256, size) gets no shortcut to it.
    tokio::time::sleep(Duration::from_secs(2)).await;
    post(app, &f.public_build_token, BUILDS, json!({"branch": "main"})).await;
    let (status, plan) =
        post(app, &f.public_build_token, &format!("{BUILDS}/1/uploads"), json!({"node_index": 0, "files": files}))
            .await;
    assert_eq!(status, 200, "{plan}");
    assert_eq!(plan["uploads"][0]["action"], "put", "a claim by hash alone must upload the bytes: {plan}");
    assert!(listed(app, "gh/acme/public-site", 1, None).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_builds_are_closed_and_finishing_again_is_safe() {
    let f = TestApp::with_projects().await;
    let (app, t) = (&f.app, &f.public_build_token);
    let (status, build) = post(app, t, BUILDS, json!({"branch": "main", "node_total": 2})).await;
    assert_eq!((status, build["node_total"].as_i64()), (200, Some(2)), "{build}");
    let (status, body) = post(app, t, BUILDS, json!({"build_num": 1, "node_index": 2})).await;
    assert_eq!(status, 400, "node 2 of a 2-node build: {body}");
    let (status, _) = post(app, t, BUILDS, json!({"build_num": 1, "node_index": 1})).await;
    assert_eq!(status, 200, "joining a running build as another node works");

    let finish = |node: i64, status: &str| json!({"node_index": node, "status": status});
    let (status, done) = post(app, t, &format!("{BUILDS}/1/finish"), finish(0, "failed")).await;
    assert_eq!((status, done["status"].as_str(), done["closed"].as_bool()), (200, Some("running"), Some(false)));
    let (status, _) = post(app, t, &format!("{BUILDS}/1/finish"), finish(0, "failed")).await;
    assert_eq!(status, 200, "the same finish again succeeds");
    let (status, _) = post(app, t, &format!("{BUILDS}/1/finish"), finish(0, "success")).await;
    assert_eq!(status, 409, "a node cannot change how it ended");
    let files = json!([file("late.txt", b"late")]);
    let (status, body) = post(app, t, &format!("{BUILDS}/1/uploads"), json!({"node_index": 0, "files": files})).await;
    assert_eq!(status, 409, "a finished node takes no artifacts: {body}");
    let (status, done) = post(app, t, &format!("{BUILDS}/1/finish"), finish(1, "success")).await;
    assert_eq!((status, done["status"].as_str(), done["closed"].as_bool()), (200, Some("failed"), Some(true)));

    // Closed: no artifacts, no new node, no status change.
    let (status, body) = post(app, t, &format!("{BUILDS}/1/uploads"), json!({"node_index": 1, "files": files})).await;
    assert_eq!(status, 409, "{body}");
    assert!(body["message"].as_str().unwrap().contains("re-run is a new build"), "{body}");
    let (status, _) = post(app, t, BUILDS, json!({"build_num": 1, "node_index": 1})).await;
    assert_eq!(status, 409);
    let (status, _) = post(app, t, &format!("{BUILDS}/1/finish"), finish(1, "success")).await;
    assert_eq!(status, 200, "retried finish of the last node");
    let (_, summary) = app.get_json("/api/v1.1/project/gh/acme/public-site/1", None).await;
    assert_eq!((summary["status"].as_str(), summary["parallel"].as_i64()), (Some("failed"), Some(2)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_are_enforced_with_the_file_and_the_limit_named() {
    let uploads = UploadSettings { max_build_artifacts: 3, ..UploadSettings::default() };
    let f = TestApp::with_projects_and(uploads).await;
    let (app, t) = (&f.app, &f.public_build_token);
    post(app, t, BUILDS, json!({"branch": "main"})).await;
    let files: Vec<Value> = (0..4).map(|i| file(&format!("f{i}.txt"), format!("{i}").as_bytes())).collect();
    let (status, body) = post(app, t, &format!("{BUILDS}/1/uploads"), json!({"node_index": 0, "files": files})).await;
    assert_eq!(status, 400, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("f3.txt") && message.contains("3 artifacts"), "{message}");

    let huge =
        json!([{"path": "big", "pretty_path": "big", "size": 3u64 * 1024 * 1024 * 1024 + 1, "sha256": "0".repeat(64)}]);
    let (status, body) = post(app, t, &format!("{BUILDS}/1/uploads"), json!({"node_index": 0, "files": huge})).await;
    assert_eq!(status, 400);
    assert!(body["message"].as_str().unwrap().contains("3 GiB"), "{body}");
}

/// Build machines may be upgraded after the server: it serves every protocol from
/// OLDEST_PROTOCOL_VERSION on; an agent too old or too new hears which versions it speaks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_of_another_protocol_are_told_which_one_is_needed() {
    use vitrine_wire::agent::OLDEST_PROTOCOL_VERSION;
    let f = TestApp::with_projects().await;
    let start = |protocol: Option<u32>| {
        let mut r = f.app.http.post(format!("{}{BUILDS}", f.app.url)).header("Circle-Token", &f.public_build_token);
        if let Some(p) = protocol {
            r = r.header(PROTOCOL_HEADER, p.to_string());
        }
        r.header("User-Agent", "vitrine/0.0.1").json(&json!({"branch": "main"})).send()
    };
    for serves in OLDEST_PROTOCOL_VERSION..=PROTOCOL_VERSION {
        assert_eq!(start(Some(serves)).await.unwrap().status().as_u16(), 200, "protocol {serves}");
    }
    for (protocol, says) in
        [(None, "older"), (Some(OLDEST_PROTOCOL_VERSION - 1), "/downloads/"), (Some(PROTOCOL_VERSION + 1), "newer")]
    {
        let r = start(protocol).await.unwrap();
        assert_eq!(r.status().as_u16(), 400);
        let message = r.json::<Value>().await.unwrap()["message"].as_str().unwrap().to_owned();
        assert!(message.contains(&format!("agent protocol version {PROTOCOL_VERSION}")), "{message}");
        assert!(message.contains(says), "{protocol:?}: {message}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_never_completed_are_swept_with_their_objects() {
    // URLs that expire soon, but not before the PUT below reaches the store on a busy machine
    // (at 1 s, one in a few full runs saw its signature expire first).
    let uploads = UploadSettings {
        url_ttl: Duration::from_secs(4),
        sweep_every: Duration::from_millis(200),
        sweep_grace: Duration::ZERO,
        part_size: Some(vitrine_wire::agent::PART_SIZE),
        ..UploadSettings::default()
    };
    let f = TestApp::with_projects_and(uploads).await;
    let (app, t) = (&f.app, &f.public_build_token);
    let store = storage(app).await;
    let db = app.db().await;
    post(app, t, BUILDS, json!({"branch": "main"})).await;
    let before = store.list_keys("b/").await.unwrap().len();

    // One PUT sent but never confirmed, one never sent, one multipart with no parts sent.
    let sent = b"sent, never confirmed".to_vec();
    let big = vitrine_wire::agent::PART_SIZE + 1;
    let files = json!([
        file("sent.txt", &sent),
        file("unsent.txt", b"never sent"),
        {"path": "big.bin", "pretty_path": "big.bin", "size": big, "sha256": "a".repeat(64),
         "part_sha256": ["b".repeat(64), "c".repeat(64)]},
    ]);
    let (status, plan) = post(app, t, &format!("{BUILDS}/1/uploads"), json!({"node_index": 0, "files": files})).await;
    assert_eq!(status, 200, "{plan}");
    assert_eq!(plan["uploads"][2]["action"], "multipart");
    assert_eq!(put_signed(app, &plan["uploads"][0]["request"], sent).await.0, 200);
    assert_eq!(store.list_keys("b/").await.unwrap().len(), before + 1);
    assert_eq!(db.pending_upload_count().await.unwrap(), 3);

    let mut waited = Duration::ZERO;
    while db.pending_upload_count().await.unwrap() > 0 && waited < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        waited += Duration::from_millis(200);
    }
    assert_eq!(db.pending_upload_count().await.unwrap(), 0, "abandoned uploads are removed");
    assert_eq!(store.list_keys("b/").await.unwrap().len(), before, "and their objects");
    assert!(listed(app, "gh/acme/public-site", 1, None).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_routes_need_the_projects_own_build_token() {
    let f = TestApp::with_projects().await;
    let app = &f.app;
    let (status, body) = post(app, &f.member_token, BUILDS, json!({"branch": "main"})).await;
    assert_eq!(status, 403, "{body}");
    assert!(body["message"].as_str().unwrap().contains("build token"));
    let (status, _) = post(app, &f.private_build_token, BUILDS, json!({"branch": "main"})).await;
    assert_eq!(status, 403, "another project's build token cannot write here");
    let (status, body) = post(app, &f.public_build_token, SECRET, json!({"branch": "main"})).await;
    assert_eq!((status, body["message"].as_str()), (404, Some("Project not found")), "nor see a private project");
    let (status, _) = post(app, "unknown", BUILDS, json!({"branch": "main"})).await;
    assert_eq!(status, 401);
    let r = app
        .http
        .post(format!("{}{BUILDS}", app.url))
        .header(PROTOCOL_HEADER, PROTOCOL_VERSION.to_string())
        .json(&json!({"branch": "main"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);

    let (status, _) = post(app, &f.public_build_token, BUILDS, json!({"branch": "main"})).await;
    assert_eq!(status, 200);
    let bad = json!([{"path": "x", "pretty_path": "../x", "size": 1, "sha256": "0".repeat(64)}]);
    let (status, body) =
        post(app, &f.public_build_token, &format!("{BUILDS}/1/uploads"), json!({"node_index": 0, "files": bad})).await;
    assert_eq!(status, 400);
    assert!(body["message"].as_str().unwrap().contains("may not contain"), "{body}");
    let (status, body) =
        post(app, &f.public_build_token, &format!("{BUILDS}/7/uploads"), json!({"node_index": 0, "files": []})).await;
    assert_eq!(status, 404, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builds_whose_nodes_never_finish_are_closed_as_timedout() {
    let uploads = UploadSettings {
        build_timeout: Duration::from_secs(1),
        sweep_every: Duration::from_millis(200),
        ..UploadSettings::default()
    };
    let f = TestApp::with_projects_and(uploads).await;
    let (app, t) = (&f.app, &f.public_build_token);
    let (status, _) = post(app, t, BUILDS, json!({"branch": "main", "node_total": 2})).await;
    assert_eq!(status, 200);
    post(app, t, &format!("{BUILDS}/1/finish"), json!({"node_index": 0, "status": "success"})).await;
    let mut status = String::new();
    for _ in 0..50 {
        let (_, summary) = app.get_json("/api/v1.1/project/gh/acme/public-site/1", None).await;
        status = summary["status"].as_str().unwrap_or_default().to_owned();
        if status != "running" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, "timedout");
    let files = json!([file("late.txt", b"late")]);
    let (status, _) = post(app, t, &format!("{BUILDS}/1/uploads"), json!({"node_index": 1, "files": files})).await;
    assert_eq!(status, 409, "a timed-out build takes no artifacts");
    let (status, _) = post(app, t, &format!("{BUILDS}/1/finish"), json!({"node_index": 1, "status": "success"})).await;
    assert_eq!(status, 409, "nor a late finish");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_path_that_would_read_otherwise_is_refused_in_words() {
    let f = TestApp::with_projects().await;
    let builds = "/api/agent/projects/gh/acme/secret/builds";
    let (status, started) = agent_call(&f, &f.private_build_token, builds, serde_json::json!({"branch": "main"})).await;
    assert_eq!(status, 200, "{started}");
    let plan = format!("{builds}/{}/uploads", started["build_num"]);
    let sha = "0".repeat(64);
    for (path, why) in [("/tmp/invoice\u{202e}fdp.exe", "U+202E"), ("/tmp/a\u{1b}[31m", "U+001B"), ("", "empty")] {
        let file = serde_json::json!({"path": path, "pretty_path": "a.txt", "size": 1, "sha256": sha});
        let body = serde_json::json!({"node_index": 0, "files": [file]});
        let (status, answer) = agent_call(&f, &f.private_build_token, &plan, body).await;
        assert_eq!(status, 400, "{answer}");
        let message = answer["message"].as_str().unwrap();
        assert!(message.contains("source path") && message.contains(why), "{message}");
    }
}
