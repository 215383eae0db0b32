//! The embedded S3 server checks signatures; signed URLs cannot be bent to other objects.

use crate::common::*;

#[tokio::test]
async fn embedded_s3_rejects_tampered_and_unsigned_requests() {
    let f = TestApp::with_projects().await;
    assert_ok(&f.app.run_build(&f.public_build_token, "gh/acme/public-site", "main", "echo a > \"$CIRCLE_ARTIFACTS/a.txt\"").await);
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
    for key in ["AWS_ENDPOINT_URL=", "AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=", "AWS_REGION=", "VITRINE_S3_BUCKET="] {
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
    assert_ok(&f.app.run_build(&f.public_build_token, "gh/acme/public-site", "main", "echo shared > \"$CIRCLE_ARTIFACTS/s.txt\"").await);
    let s3_addr = f.app.running.s3_endpoint.clone().unwrap().trim_start_matches("http://").parse().unwrap();
    let second = vitrine::serve::start(vitrine::serve::ServeConfig {
        addr: "127.0.0.1:0".parse().unwrap(),
        data_dir: f.app.data_dir().to_path_buf(),
        public_url: None,
        embedded_s3_addr: s3_addr,
        s3: None,
        database_url: None,
        site_root: f.app.data_dir().join("site"),
    })
    .await
    .expect("the second server joins the first one's store");
    assert_eq!(second.s3_endpoint, f.app.running.s3_endpoint);
    let url = format!("{}/api/v1.1/project/gh/acme/public-site/1/artifacts/0/$CIRCLE_ARTIFACTS/s.txt", second.public_url);
    assert_eq!(f.app.download(&url, None).await.1, b"shared\n");
}
