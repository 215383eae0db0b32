//! The agent API directly: nothing unverified is ever listed, and tokens are scoped.

use serde_json::json;

use crate::common::*;

async fn post(app: &TestApp, token: &str, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
    let r = app.http.post(format!("{}{path}", app.url)).header("Circle-Token", token).json(&body).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or_default())
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

const BUILDS: &str = "/api/agent/projects/gh/acme/public-site/builds";

#[tokio::test]
async fn bytes_that_do_not_match_the_declared_hash_are_never_listed() {
    let f = TestApp::with_projects().await;
    let app = &f.app;
    let t = &f.public_build_token;
    let (status, build) = post(app, t, BUILDS, json!({"branch": "main"})).await;
    assert_eq!(status, 200, "{build}");
    assert_eq!(build["build_num"], 1);

    let declared = b"the real report";
    let files = json!([{"path": "report.txt", "pretty_path": "report.txt", "size": declared.len(), "sha256": sha256(declared)}]);
    let (status, plan) = post(app, t, &format!("{BUILDS}/1/uploads"), json!({"node_index": 0, "files": files})).await;
    assert_eq!(status, 200, "{plan}");
    let upload = &plan["uploads"][0];
    assert_eq!(upload["action"], "put");
    let put_url = upload["request"]["url"].as_str().unwrap();

    // Before confirmation nothing is listed.
    let (_, list) = app.get_json("/api/v1.1/project/gh/acme/public-site/1/artifacts", None).await;
    assert_eq!(list.as_array().unwrap().len(), 0);

    // Same size, other bytes.
    let r = app.http.put(put_url).body(&b"the fake report"[..]).send().await.unwrap();
    assert!(r.status().is_success());
    let (_, done) =
        post(app, t, &format!("{BUILDS}/1/uploads/complete"), json!({"uploads": [{"upload_id": upload["upload_id"]}]}))
            .await;
    let error = done["results"][0]["error"].as_str().unwrap();
    assert!(error.contains("do not match"), "{error}");
    let (_, list) = app.get_json("/api/v1.1/project/gh/acme/public-site/1/artifacts", None).await;
    assert_eq!(list.as_array().unwrap().len(), 0);

    // Confirming again, or confirming an upload that was never sent, lists nothing either.
    let (_, done) =
        post(app, t, &format!("{BUILDS}/1/uploads/complete"), json!({"uploads": [{"upload_id": upload["upload_id"]}]}))
            .await;
    assert!(done["results"][0]["error"].as_str().unwrap().contains("Unknown upload"));
    let (_, plan) = post(app, t, &format!("{BUILDS}/1/uploads"), json!({"node_index": 0, "files": files})).await;
    let (_, done) = post(
        app,
        t,
        &format!("{BUILDS}/1/uploads/complete"),
        json!({"uploads": [{"upload_id": plan["uploads"][0]["upload_id"]}]}),
    )
    .await;
    assert!(done["results"][0]["error"].as_str().unwrap().contains("nothing was uploaded"), "{done}");

    // The honest upload is listed, and the same content later is not sent again.
    let (_, plan) = post(app, t, &format!("{BUILDS}/1/uploads"), json!({"node_index": 0, "files": files})).await;
    let put_url = plan["uploads"][0]["request"]["url"].as_str().unwrap();
    assert!(app.http.put(put_url).body(&declared[..]).send().await.unwrap().status().is_success());
    let (_, done) = post(
        app,
        t,
        &format!("{BUILDS}/1/uploads/complete"),
        json!({"uploads": [{"upload_id": plan["uploads"][0]["upload_id"]}]}),
    )
    .await;
    assert_eq!(done["results"][0]["error"], serde_json::Value::Null, "{done}");
    let again =
        json!([{"path": "copy.txt", "pretty_path": "copy.txt", "size": declared.len(), "sha256": sha256(declared)}]);
    let (_, plan) = post(app, t, &format!("{BUILDS}/1/uploads"), json!({"node_index": 1, "files": again})).await;
    assert_eq!(plan["uploads"][0]["action"], "stored");
    // Another project gets no shortcut to this object while its upload URL could still
    // overwrite it: it uploads its own copy.
    let secret = "/api/agent/projects/gh/acme/secret/builds";
    post(app, &f.private_build_token, secret, json!({"branch": "main"})).await;
    let (_, plan) =
        post(app, &f.private_build_token, &format!("{secret}/1/uploads"), json!({"node_index": 0, "files": files}))
            .await;
    assert_eq!(plan["uploads"][0]["action"], "put");

    let (_, list) = app.get_json("/api/v1.1/project/gh/acme/public-site/1/artifacts", None).await;
    let listed: Vec<(i64, &str)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["node_index"].as_i64().unwrap(), a["pretty_path"].as_str().unwrap()))
        .collect();
    assert_eq!(listed, [(0, "report.txt"), (1, "copy.txt")]);
    let (_, summary) = app.get_json("/api/v1.1/project/gh/acme/public-site/1", None).await;
    assert_eq!(summary["parallel"], 2);
}

#[tokio::test]
async fn agent_routes_need_the_projects_own_build_token() {
    let f = TestApp::with_projects().await;
    let app = &f.app;
    let (status, body) = post(app, &f.member_token, BUILDS, json!({"branch": "main"})).await;
    assert_eq!(status, 403, "{body}");
    assert!(body["message"].as_str().unwrap().contains("build token"));
    let (status, _) = post(app, &f.private_build_token, BUILDS, json!({"branch": "main"})).await;
    assert_eq!(status, 403, "another project's build token cannot write here");
    let (status, body) =
        post(app, &f.public_build_token, "/api/agent/projects/gh/acme/secret/builds", json!({"branch": "main"})).await;
    assert_eq!((status, body["message"].as_str()), (404, Some("Project not found")), "nor see a private project");
    let (status, _) = post(app, "unknown", BUILDS, json!({"branch": "main"})).await;
    assert_eq!(status, 401);
    let r = app.http.post(format!("{}{BUILDS}", app.url)).json(&json!({"branch": "main"})).send().await.unwrap();
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
