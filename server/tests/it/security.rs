//! The embedded S3 server checks signatures; signed URLs cannot be bent to other objects.

use crate::common::*;

#[tokio::test]
async fn embedded_s3_rejects_tampered_and_unsigned_requests() {
    let f = TestApp::with_projects().await;
    assert_ok(
        &f.app
            .run_build(&f.public_build_token, "gh/acme/public-site", "main", "echo a > \"$CIRCLE_ARTIFACTS/a.txt\"")
            .await,
    );
    let r = f.app.get("/api/v1.1/project/gh/acme/public-site/1/artifacts/0/$CIRCLE_ARTIFACTS/a.txt", None).await;
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.contains("X-Amz-Signature="), "{location}");
    assert!(!location.contains("CIRCLE_ARTIFACTS"), "storage keys are opaque: {location}");
    assert_eq!(reqwest::get(&location).await.unwrap().status().as_u16(), 200);

    let tampered = location.replace("X-Amz-Expires=", "X-Amz-Expires=9");
    assert_eq!(reqwest::get(&tampered).await.unwrap().status().as_u16(), 403);
    let endpoint = f.app.running.s3_endpoint.clone().unwrap();
    let unsigned = format!("{endpoint}/vitrine/");
    assert_eq!(reqwest::get(&unsigned).await.unwrap().status().as_u16(), 403);

    // The env file for standard S3 tools exists and is private.
    use std::os::unix::fs::PermissionsExt;
    let env = f.app.data_dir().join("embedded-s3.env");
    let text = std::fs::read_to_string(&env).unwrap();
    for key in
        ["AWS_ENDPOINT_URL=", "AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=", "AWS_REGION=", "VITRINE_S3_BUCKET="]
    {
        assert!(text.contains(key), "{key} in {text}");
    }
    assert_eq!(std::fs::metadata(&env).unwrap().permissions().mode() & 0o777, 0o600);
}

#[tokio::test]
async fn health_and_unknown_api_routes() {
    let app = TestApp::start().await;
    let r = app.get("/healthz", None).await;
    assert_eq!(r.status().as_u16(), 200);
    let (status, body) = app.get_json("/api/v1.1/nope", None).await;
    assert_eq!(status, 404);
    assert!(body["message"].is_string());
}

#[tokio::test]
async fn a_second_server_on_the_same_data_dir_shares_the_embedded_store() {
    let f = TestApp::with_projects().await;
    assert_ok(
        &f.app
            .run_build(
                &f.public_build_token,
                "gh/acme/public-site",
                "main",
                "echo shared > \"$CIRCLE_ARTIFACTS/s.txt\"",
            )
            .await,
    );
    let s3_addr = f.app.running.s3_endpoint.clone().unwrap().trim_start_matches("http://").parse().unwrap();
    let second = vitrine::serve::start(vitrine::serve::ServeConfig {
        embedded_s3_addr: s3_addr,
        database_url: f.app.database_url.clone(),
        ..test_config(f.app.data_dir(), UploadSettings::default())
    })
    .await
    .expect("the second server joins the first one's store");
    assert_eq!(second.s3_endpoint, f.app.running.s3_endpoint);
    let url =
        format!("{}/api/v1.1/project/gh/acme/public-site/1/artifacts/0/$CIRCLE_ARTIFACTS/s.txt", second.public_url);
    assert_eq!(f.app.download(&url, None).await.1, b"shared\n");
}

#[tokio::test]
async fn html_reports_open_on_their_own_origin_with_relative_links_working() {
    let f = TestApp::with_projects().await;
    let script = r#"
        mkdir -p "$CIRCLE_ARTIFACTS/report/pages"
        echo '<link rel="stylesheet" href="style.css"><a href="pages/two.html">two</a>' > "$CIRCLE_ARTIFACTS/report/index.html"
        echo 'body { color: red }' > "$CIRCLE_ARTIFACTS/report/style.css"
        echo '<p>page two</p>' > "$CIRCLE_ARTIFACTS/report/pages/two.html"
        echo '<svg xmlns="http://www.w3.org/2000/svg"/>' > "$CIRCLE_ARTIFACTS/chart.svg"
    "#;
    assert_ok(&f.app.run_build(&f.private_build_token, "gh/acme/secret", "main", script).await);
    let route = "/api/v1.1/project/gh/acme/secret/1/artifacts/0/$CIRCLE_ARTIFACTS/report/index.html";
    assert_eq!(f.app.get(route, None).await.status().as_u16(), 404, "access is checked first");
    let r = f.app.get(route, Some(&f.member_token)).await;
    assert_eq!(r.status().as_u16(), 302);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let origin = &f.app.running.artifacts_url;
    assert!(location.starts_with(&format!("{origin}/c/")), "{location}");
    assert_ne!(origin, &f.app.url);

    let page = reqwest::get(&location).await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    assert!(page.headers()["content-security-policy"].to_str().unwrap().starts_with("sandbox"));
    assert!(page.headers().get("set-cookie").is_none());
    assert!(page.text().await.unwrap().contains("pages/two.html"));
    // Relative links resolve under the same capability prefix.
    let base = location.rsplit_once('/').unwrap().0;
    let css = reqwest::get(format!("{base}/style.css")).await.unwrap();
    assert_eq!(css.status().as_u16(), 200);
    assert_eq!(css.text().await.unwrap(), "body { color: red }\n");
    let two = reqwest::get(format!("{base}/pages/two.html")).await.unwrap();
    assert_eq!(two.text().await.unwrap(), "<p>page two</p>\n");

    // A changed capability opens nothing.
    let (prefix, rest) = location.split_once("/c/").unwrap();
    let tampered = format!("{prefix}/c/A{}", &rest[1..]);
    assert_eq!(reqwest::get(&tampered).await.unwrap().status().as_u16(), 404);
    let escape = format!("{base}/..%2F..%2Fchart.svg");
    assert_eq!(reqwest::get(&escape).await.unwrap().status().as_u16(), 400);

    // SVG is active content too.
    let r = f
        .app
        .get("/api/v1.1/project/gh/acme/secret/1/artifacts/0/$CIRCLE_ARTIFACTS/chart.svg", Some(&f.member_token))
        .await;
    assert!(r.headers()["location"].to_str().unwrap().starts_with(origin.as_str()));
}
