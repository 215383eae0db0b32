//! Pages rendered on the server: they hold the data before any WASM runs.

use crate::common::*;

#[tokio::test]
async fn build_page_renders_artifact_links_on_the_server() {
    let f = TestApp::with_projects().await;
    let script = "echo log > \"$CIRCLE_ARTIFACTS/build.log\"; printf png > \"$CIRCLE_ARTIFACTS/shot.png\"";
    assert_ok(&f.app.run_build(&f.public_build_token, "gh/acme/public-site", "main", script).await);
    let r = f.app.get("/gh/acme/public-site/1", None).await;
    assert_eq!(r.status().as_u16(), 200);
    let html = r.text().await.unwrap();
    assert!(
        html.contains(r#"href="/api/v1.1/project/github/acme/public-site/1/artifacts/0/$CIRCLE_ARTIFACTS/build.log""#),
        "{html}"
    );
    assert!(html.contains("Artifacts"));
    assert!(html.contains("Build #1"));
    assert!(html.contains("/pkg/vitrine.js"), "hydration script is referenced");

    let r = f.app.get("/gh/acme/public-site/1?tab=gallery", None).await;
    let html = r.text().await.unwrap();
    assert!(
        html.contains(
            r#"<img src="/api/v1.1/project/github/acme/public-site/1/artifacts/0/$CIRCLE_ARTIFACTS/shot.png""#
        ),
        "{html}"
    );

    let r = f.app.get("/gh/acme/public-site", None).await;
    assert!(r.text().await.unwrap().contains(r#"href="/gh/acme/public-site/1""#));
}

/// Posts the login form to its server function, as a browser without JavaScript does.
async fn login(app: &TestApp, username: &str, password: &str, next: &str) -> reqwest::Response {
    let form = [("username", username), ("password", password), ("next", next)];
    app.http.post(format!("{}/api/login", app.url)).form(&form).send().await.unwrap()
}

#[tokio::test]
async fn private_pages_need_a_signed_in_member() {
    let f = TestApp::with_projects().await;
    assert_ok(
        &f.app
            .run_build(&f.private_build_token, "gh/acme/secret", "main", "echo x > \"$CIRCLE_ARTIFACTS/x.txt\"")
            .await,
    );
    let r = f.app.get("/gh/acme/secret/1", None).await;
    assert_eq!(r.status().as_u16(), 404);
    let html = r.text().await.unwrap();
    assert!(html.contains("Project not found") && !html.contains("x.txt"));

    let r = login(&f.app, "alice", "wrong-password", "").await;
    assert!(r.headers().get("set-cookie").is_none(), "no session for a wrong password");
    let r = login(&f.app, "alice", "alice-password", "/gh/acme/secret/1").await;
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
    let session = cookie.split(';').next().unwrap().to_owned();

    let page = f.app.get_with_cookie("/gh/acme/secret/1", &session).await;
    assert_eq!(page.status().as_u16(), 200);
    assert!(page.text().await.unwrap().contains("x.txt"));
    let api = f.app.get_with_cookie("/api/v1.1/project/gh/acme/secret/1/artifacts", &session).await;
    assert_eq!(api.status().as_u16(), 200, "the session cookie works on the API too");

    // Signing out ends the session.
    f.app.get_with_cookie("/logout", &session).await;
    let api = f.app.get_with_cookie("/api/v1.1/project/gh/acme/secret/1/artifacts", &session).await;
    assert_eq!(api.status().as_u16(), 404);
}

#[tokio::test]
async fn cookie_carrying_writes_from_other_sites_are_refused() {
    let f = TestApp::with_projects().await;
    let sign_in_from = |site: &'static str| {
        let form = [("username", "alice"), ("password", "alice-password"), ("next", "")];
        let request = f.app.http.post(format!("{}/api/login", f.app.url));
        request.header("Cookie", "vitrine_session=x").header("Sec-Fetch-Site", site).form(&form).send()
    };
    // As a script on the storage origin (same site, other port) would send it.
    let r = sign_in_from("same-site").await.unwrap();
    assert_eq!(r.status().as_u16(), 403);
    assert!(r.headers().get("set-cookie").is_none());
    // The app's own pages may.
    let r = sign_in_from("same-origin").await.unwrap();
    assert!(r.headers().get("set-cookie").is_some());
}
