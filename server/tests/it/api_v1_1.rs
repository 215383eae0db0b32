//! The v1.1 API as CircleCI clients use it: shapes, `latest`, filters, auth forms, errors.

use base64::Engine;

use crate::common::*;

async fn seed_builds(f: &Fixture) {
    let app = &f.app;
    let t = &f.public_build_token;
    let p = "gh/acme/public-site";
    // 1: main ok, 2: feature/login-page fails, 3: main fails, 4: feature/login-page ok.
    assert_ok(&app.run_build(t, p, "main", "echo 1 > \"$CIRCLE_ARTIFACTS/n.txt\"").await);
    let _ = app.run_build(t, p, "feature/login-page", "echo 2 > \"$CIRCLE_ARTIFACTS/n.txt\"; exit 1").await;
    let _ = app.run_build(t, p, "main", "echo 3 > \"$CIRCLE_ARTIFACTS/n.txt\"; exit 1").await;
    assert_ok(&app.run_build(t, p, "feature/login-page", "echo 4 > \"$CIRCLE_ARTIFACTS/n.txt\"").await);
}

fn nums(v: &serde_json::Value) -> Vec<i64> {
    v.as_array().unwrap().iter().map(|b| b["build_num"].as_i64().unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recent_builds_filters_branches_and_summaries() {
    let f = TestApp::with_projects().await;
    seed_builds(&f).await;
    let app = &f.app;
    let base = "/api/v1.1/project/github/acme/public-site";

    let (status, all) = app.get_json(base, None).await;
    assert_eq!(status, 200);
    assert_eq!(nums(&all), [4, 3, 2, 1]);
    let first = &all[0];
    for key in [
        "build_num",
        "branch",
        "vcs_revision",
        "status",
        "outcome",
        "start_time",
        "stop_time",
        "build_url",
        "lifecycle",
        "username",
        "reponame",
    ] {
        assert!(first.get(key).is_some(), "build summary has {key}: {first}");
    }
    assert_eq!(first["build_url"], format!("{}/gh/acme/public-site/4", app.url));
    assert_eq!(first["lifecycle"], "finished");

    assert_eq!(nums(&app.get_json(&format!("{base}?limit=2"), None).await.1), [4, 3]);
    assert_eq!(nums(&app.get_json(&format!("{base}?limit=2&offset=2"), None).await.1), [2, 1]);
    assert_eq!(nums(&app.get_json(&format!("{base}?filter=successful"), None).await.1), [4, 1]);
    assert_eq!(nums(&app.get_json(&format!("{base}?filter=failed"), None).await.1), [3, 2]);
    assert_eq!(nums(&app.get_json(&format!("{base}/tree/feature/login-page"), None).await.1), [4, 2]);
    assert_eq!(nums(&app.get_json(&format!("{base}/tree/main?filter=failed"), None).await.1), [3]);
    // gh alias, and one build.
    let (status, one) = app.get_json("/api/v1.1/project/gh/acme/public-site/2", None).await;
    assert_eq!(status, 200);
    assert_eq!(one["branch"], "feature/login-page");
    assert_eq!(one["status"], "failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latest_artifacts_resolve_by_branch_and_filter() {
    let f = TestApp::with_projects().await;
    seed_builds(&f).await;
    let app = &f.app;
    let base = "/api/v1.1/project/github/acme/public-site/latest/artifacts";
    let content_of = |list: serde_json::Value| async move {
        let url = list[0]["url"].as_str().unwrap().to_owned();
        assert!(url.contains("/artifacts/0/$CIRCLE_ARTIFACTS/n.txt"));
        String::from_utf8(app.download(&url, None).await.1).unwrap()
    };
    // The url of a listing from `latest` names the resolved build number.
    let (_, list) = app.get_json(base, None).await;
    assert!(list[0]["url"].as_str().unwrap().contains("/public-site/4/artifacts/"));
    assert_eq!(content_of(list).await, "4\n");
    assert_eq!(content_of(app.get_json(&format!("{base}?branch=main"), None).await.1).await, "3\n");
    assert_eq!(content_of(app.get_json(&format!("{base}?branch=main&filter=successful"), None).await.1).await, "1\n");
    assert_eq!(
        content_of(app.get_json(&format!("{base}?branch=feature/login-page&filter=failed"), None).await.1).await,
        "2\n"
    );
    assert_eq!(
        content_of(app.get_json(&format!("{base}?branch=feature%2Flogin-page&filter=completed"), None).await.1).await,
        "4\n"
    );

    // The artifact route with `latest`.
    let url = format!(
        "{}/api/v1.1/project/gh/acme/public-site/latest/artifacts/0/$CIRCLE_ARTIFACTS/n.txt?branch=main&filter=successful",
        app.url
    );
    assert_eq!(app.download(&url, None).await.1, b"1\n");

    // Nothing running: 404, not an empty success.
    let (status, body) = app.get_json(&format!("{base}?filter=running"), None).await;
    assert_eq!(status, 404);
    assert_eq!(body["message"], "Build not found");
    let (status, _) = app.get_json(&format!("{base}?branch=no-such-branch"), None).await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_json_with_the_right_status() {
    let f = TestApp::with_projects().await;
    seed_builds(&f).await;
    let app = &f.app;
    let cases = [
        ("/api/v1.1/project/github/acme/public-site/latest/artifacts?filter=bogus", 400, "Invalid filter"),
        ("/api/v1.1/project/github/acme/public-site?filter=bogus", 400, "Invalid filter"),
        ("/api/v1.1/project/svn/acme/public-site/1/artifacts", 400, "Invalid vcs type"),
        ("/api/v1.1/project/github/acme/public-site/99", 404, "Build not found"),
        ("/api/v1.1/project/github/acme/public-site/99/artifacts", 404, "Build not found"),
        ("/api/v1.1/project/github/acme/nope/1/artifacts", 404, "Project not found"),
        ("/api/v1.1/project/github/acme/public-site/abc/artifacts", 400, "Invalid build number"),
        ("/api/v1.1/project/github/acme/public-site/1/artifacts/0/..%2F..%2Fetc/passwd", 400, "may not contain"),
        ("/api/v1.1/project/github/acme/public-site/1/artifacts/0/a/..%2Fb", 400, "may not contain"),
        (
            "/api/v1.1/project/github/acme/public-site/1/artifacts/7/$CIRCLE_ARTIFACTS/n.txt",
            404,
            "not found in container 7",
        ),
        ("/api/v1.1/project/github/acme/public-site/1/artifacts/x/n.txt", 400, "Invalid node index"),
        // The artifact route checks its project, build and query as the listings do.
        ("/api/v1.1/project/svn/acme/public-site/1/artifacts/0/n.txt", 400, "Invalid vcs type"),
        ("/api/v1.1/project/github/acme/public-site/latest/artifacts/0/n.txt?filter=bogus", 400, "Invalid filter"),
        ("/api/v1.1/project/github/acme/public-site/abc/artifacts/0/n.txt", 400, "Invalid build number"),
    ];
    for (path, status, message) in cases {
        let r = app.get(path, None).await;
        assert_eq!(r.status().as_u16(), status, "{path}");
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("application/json"), "{path}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert!(body["message"].as_str().unwrap().contains(message), "{path}: {body}");
    }
    let (status, body) = app.get_json("/api/v1.1/project/github/acme/public-site", Some("not-a-real-token")).await;
    assert_eq!(status, 401);
    assert!(body["message"].as_str().unwrap().contains("token"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_projects_answer_only_with_access_in_every_token_form() {
    let f = TestApp::with_projects().await;
    let app = &f.app;
    assert_ok(
        &app.run_build(&f.private_build_token, "gh/acme/secret", "main", "echo s3cret > \"$CIRCLE_ARTIFACTS/key.txt\"")
            .await,
    );
    let list = "/api/v1.1/project/github/acme/secret/1/artifacts";

    // Without access: the same 404 as a project that does not exist.
    for token in [None, Some(f.outsider_token.as_str()), Some(f.public_build_token.as_str())] {
        let (status, body) = app.get_json(list, token).await;
        assert_eq!((status, body["message"].as_str()), (404, Some("Project not found")), "token {token:?}");
    }
    let artifact = format!("{}/api/v1.1/project/github/acme/secret/1/artifacts/0/$CIRCLE_ARTIFACTS/key.txt", app.url);
    assert_eq!(app.http.get(&artifact).send().await.unwrap().status().as_u16(), 404);

    // With access: header, query and Basic all work, for the member and the project's agent.
    let (status, _) = app.get_json(list, Some(&f.member_token)).await;
    assert_eq!(status, 200);
    let (status, _) = app.get_json(list, Some(&f.private_build_token)).await;
    assert_eq!(status, 200);
    let r = app.http.get(format!("{}{list}?circle-token={}", app.url, f.member_token)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{}:", f.member_token));
    let r = app
        .http
        .get(format!("{}{list}", app.url))
        .header("Authorization", format!("Basic {basic}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let items: serde_json::Value = r.json().await.unwrap();
    let url = items[0]["url"].as_str().unwrap();
    let (_, bytes) = app.download(&format!("{url}?circle-token={}", f.member_token), None).await;
    assert_eq!(bytes, b"s3cret\n");

    // A revoked token is unknown within seconds, on every server.
    app.admin(&["token", "revoke", &f.member_token]).await;
    within_fresh_for("the revoked token is refused", || async {
        app.get_json(list, Some(&f.member_token)).await.0 == 401
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn me_and_projects_answer_for_the_token() {
    let f = TestApp::with_projects().await;
    let (status, me) = f.app.get_json("/api/v1.1/me", Some(&f.member_token)).await;
    assert_eq!((status, me["login"].as_str()), (200, Some("alice")));
    let (status, _) = f.app.get_json("/api/v1.1/me", None).await;
    assert_eq!(status, 401);
    let names = |v: serde_json::Value| -> Vec<String> {
        v.as_array().unwrap().iter().map(|p| p["reponame"].as_str().unwrap().to_owned()).collect()
    };
    let (_, anon) = f.app.get_json("/api/v1.1/projects", None).await;
    assert_eq!(names(anon), ["public-site"]);
    let (_, member) = f.app.get_json("/api/v1.1/projects", Some(&f.member_token)).await;
    assert_eq!(names(member), ["public-site", "secret"]);
    let (_, outsider) = f.app.get_json("/api/v1.1/projects", Some(&f.outsider_token)).await;
    assert_eq!(names(outsider), ["public-site"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_longer_than_a_page_is_one_complete_array_in_order() {
    let f = TestApp::with_projects().await;
    let script =
        r#"mkdir -p "$CIRCLE_ARTIFACTS/d"; for i in $(seq 1 2100); do echo "$i" > "$CIRCLE_ARTIFACTS/d/f$i.txt"; done"#;
    assert_ok(&f.app.run_build(&f.public_build_token, "gh/acme/public-site", "main", script).await);
    let r = f.app.get("/api/v1.1/project/gh/acme/public-site/1/artifacts", None).await;
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    let list: Vec<serde_json::Value> = r.json().await.expect("one JSON array");
    assert_eq!(list.len(), 2100, "more than two pages of rows, all there");
    let paths: Vec<&str> = list.iter().map(|a| a["pretty_path"].as_str().unwrap()).collect();
    let mut sorted = paths.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(paths, sorted, "in listing order, none twice");

    // A build without artifacts is an empty array.
    assert_ok(&f.app.run_build(&f.public_build_token, "gh/acme/public-site", "main", "true").await);
    let r = f.app.get("/api/v1.1/project/gh/acme/public-site/2/artifacts", None).await;
    assert_eq!(r.text().await.unwrap(), "[]");
}

/// The shapes CircleCI clients parse, whole: a change to any of them (a field renamed, a type
/// changed, one added) fails here until its snapshot is reviewed. Times, the server's address
/// and the build machine's temporary paths differ per run and are redacted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shapes_clients_parse_are_the_reviewed_ones() {
    let f = TestApp::with_projects().await;
    let app = &f.app;
    let script = "mkdir -p \"$CIRCLE_ARTIFACTS/shots\"; echo a > \"$CIRCLE_ARTIFACTS/shots/home.png\"; echo b > \"$CIRCLE_ARTIFACTS/report.html\"";
    assert_ok(&app.run_build(&f.private_build_token, "gh/acme/secret", "main", script).await);
    let mut shapes = serde_json::Map::new();
    let base = "/api/v1.1/project/gh/acme/secret";
    for (name, path) in [
        ("me", "/api/v1.1/me".to_owned()),
        ("projects", "/api/v1.1/projects".to_owned()),
        ("builds", base.to_owned()),
        ("build", format!("{base}/1")),
        ("artifacts", format!("{base}/latest/artifacts?branch=main&filter=successful")),
        ("v2_artifacts", "/api/v2/project/gh/acme/secret/1/artifacts".to_owned()),
    ] {
        let (status, value) = app.get_json(&path, Some(&f.member_token)).await;
        assert_eq!(status, 200, "{path}");
        shapes.insert(name.to_owned(), value);
    }
    let text = serde_json::Value::Object(shapes).to_string().replace(&app.url, "http://vitrine.test");
    let shapes: serde_json::Value = serde_json::from_str(&text).unwrap();
    insta::assert_json_snapshot!("v1_1_shapes", shapes, {
        ".builds[].start_time" => "[time]",
        ".builds[].stop_time" => "[time]",
        ".builds[].build_time_millis" => "[millis]",
        ".build.start_time" => "[time]",
        ".build.stop_time" => "[time]",
        ".build.build_time_millis" => "[millis]",
        ".builds[].vcs_revision" => "[revision]",
        ".build.vcs_revision" => "[revision]",
        ".artifacts[].path" => "[path on the build machine]",
    });
}

/// CircleCI's test metadata route: every run of the build's tests, errors answered as
/// failures, the message followed by the failure's text; `[]` for a build without results.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_metadata_comes_in_circlecis_shape() {
    use vitrine_store::{NewTestRun, TestResult};
    let f = TestApp::with_projects().await;
    assert_ok(&f.app.run_build(&f.private_build_token, "gh/acme/secret", "main", "true").await);
    let tests = "/api/v1.1/project/github/acme/secret/1/tests";
    let (status, empty) = f.app.get_json(tests, Some(&f.member_token)).await;
    assert_eq!((status, empty), (200, serde_json::json!({"tests": []})));

    let db = f.app.db().await;
    let project = db.project_by_slug(&"gh/acme/secret".parse().unwrap()).await.unwrap();
    let build = db.build(project.id, vitrine::domain::BuildNum(1)).await.unwrap();
    let run = |name: &str, result: TestResult, message: &str, detail: &str| NewTestRun {
        suite: "checkout".into(),
        classname: "tests.checkout".into(),
        name: name.into(),
        file: if name == "pays" { "tests/checkout.py".into() } else { String::new() },
        result,
        run_time: Some(0.25),
        message: message.into(),
        detail: detail.into(),
        attachments: vec![],
    };
    let runs = [
        run("pays", TestResult::Failure, "assert 500 == 200", "Traceback: line 3"),
        run("boots", TestResult::Error, "ImportError", ""),
        run("later", TestResult::Skipped, "not yet", ""),
        run("lists", TestResult::Success, "", ""),
    ];
    db.insert_test_runs(project.id, build.id, 0, "$CIRCLE_ARTIFACTS/test-results/pytest/junit.xml", &runs)
        .await
        .unwrap();
    let (status, body) = f.app.get_json(tests, Some(&f.member_token)).await;
    assert_eq!(status, 200);
    insta::assert_json_snapshot!("v1_1_tests", body);
    assert_eq!(f.app.get(tests, Some(&f.outsider_token)).await.status().as_u16(), 404, "as private as the build");
    let (_, latest) = f.app.get_json("/api/v1.1/project/github/acme/secret/latest/tests", Some(&f.member_token)).await;
    assert_eq!(latest, body, "latest resolves as for artifacts");
}
