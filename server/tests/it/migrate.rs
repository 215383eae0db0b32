//! Moving up: `vitrine admin migrate --to postgres://...` copies a SQLite store into an empty
//! PostgreSQL one, and a server on PostgreSQL then answers as the old one did. Runs when the
//! suite has a PostgreSQL server (`VITRINE_TEST_POSTGRES`; `scripts/test.sh` starts one).

use serde_json::{Value, json};
use vitrine_wire::agent::{PROTOCOL_HEADER, PROTOCOL_VERSION};

use crate::common::*;

fn contents(list: &Value) -> Vec<(String, u64, String)> {
    let mut all: Vec<_> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let path = a["pretty_path"].as_str().unwrap().to_owned();
            (path, a["size"].as_u64().unwrap(), a["sha256"].as_str().unwrap().to_owned())
        })
        .collect();
    all.sort();
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_store_moves_to_postgresql_with_everything_in_it() {
    let Some(postgres) = test_database().await else {
        eprintln!("skipped: VITRINE_TEST_POSTGRES names no PostgreSQL server");
        return;
    };
    let f = TestApp::with_projects_on(UploadSettings::default(), None).await;
    let a = &f.app;
    let script = r#"
        echo one > "$CIRCLE_ARTIFACTS/one.txt"
        mkdir -p "$CIRCLE_ARTIFACTS/screens" && echo png > "$CIRCLE_ARTIFACTS/screens/home.png"
    "#;
    assert_ok(&a.run_build(&f.private_build_token, "gh/acme/secret", "main", script).await);
    assert_ok(&a.run_build(&f.private_build_token, "gh/acme/secret", "feature", script).await);
    assert_ok(
        &a.run_build(&f.public_build_token, "gh/acme/public-site", "main", "echo p > \"$CIRCLE_ARTIFACTS/p\"").await,
    );
    let cookie = a.sign_in("alice", "alice-password").await;
    let listing = "/api/v1.1/project/gh/acme/secret/2/artifacts";
    let (_, before) = a.get_json(listing, Some(&f.member_token)).await;

    let out = a.admin(&["migrate", "--to", &postgres]).await;
    let printed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(printed.contains("artifacts: 5 row(s)") && printed.contains("builds: 3 row(s)"), "{printed}");

    // A server on PostgreSQL (and the same S3 store) answers as the SQLite one did.
    let (_data, b) = a.beside(Some(postgres.clone()), UploadSettings::default()).await;
    let get = |path: &str, token: Option<&str>, cookie: Option<&str>| {
        let mut request = a.http.get(format!("{}{path}", b.public_url));
        if let Some(t) = token {
            request = request.header("Circle-Token", t);
        }
        if let Some(c) = cookie {
            request = request.header("Cookie", c);
        }
        request.send()
    };
    let after: Value = get(listing, Some(&f.member_token), None).await.unwrap().json().await.unwrap();
    assert_eq!(contents(&after), contents(&before));
    assert_eq!(get(listing, None, Some(&cookie)).await.unwrap().status().as_u16(), 200, "sessions moved too");
    assert_eq!(get(listing, Some(&f.outsider_token), None).await.unwrap().status().as_u16(), 404);
    let one = after.as_array().unwrap().iter().find(|x| x["pretty_path"].as_str().unwrap().ends_with("one.txt"));
    let (_, bytes) = a.download(one.unwrap()["url"].as_str().unwrap(), Some(&f.member_token)).await;
    assert_eq!(bytes, b"one\n");

    // Builds number on after the copied ones; content is still reused within its project.
    let r = a
        .http
        .post(format!("{}/api/agent/projects/gh/acme/secret/builds", b.public_url))
        .header("Circle-Token", &f.private_build_token)
        .header(PROTOCOL_HEADER, PROTOCOL_VERSION.to_string())
        .json(&json!({"branch": "main"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["build_num"], 3);
    let db = vitrine_store::Db::open(a.data_dir(), Some(&postgres), 2).await.unwrap();
    let sha = one.unwrap()["sha256"].as_str().unwrap();
    assert_eq!(db.blob_refs(sha).await.unwrap(), 2, "reference counts are counted again");

    // Only an empty database is filled.
    let cwd = tempfile::tempdir().unwrap();
    let data = a.data_dir().to_str().unwrap();
    let again = a.vitrine(cwd.path(), &["admin", "--data-dir", data, "migrate", "--to", &postgres], &[]).await;
    assert!(!again.status.success());
    assert!(stderr(&again).contains("not empty"), "{}", stderr(&again));
}
