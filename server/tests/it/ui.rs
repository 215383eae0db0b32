//! Pages rendered on the server: they hold the data before any WASM runs.

use crate::common::*;
use futures::StreamExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
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
    let request = app.http.post(format!("{}/api/login", app.url)).header("Accept", "text/html");
    request.form(&form).send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
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
    assert_eq!(r.status().as_u16(), 401, "wrong credentials are the client's error, not the server's");
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

    // Signing out takes a POST (a link on another site cannot do it), and ends the session.
    let r = f.app.get_with_cookie("/logout", &session).await;
    assert_eq!(r.status().as_u16(), 405);
    let api = f.app.get_with_cookie("/api/v1.1/project/gh/acme/secret/1/artifacts", &session).await;
    assert_eq!(api.status().as_u16(), 200, "a GET signs nobody out");
    let r = f.app.http.post(format!("{}/logout", f.app.url)).header("Cookie", &session).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 303);
    assert!(r.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
    let api = f.app.get_with_cookie("/api/v1.1/project/gh/acme/secret/1/artifacts", &session).await;
    assert_eq!(api.status().as_u16(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_sign_in_only_paths_on_this_site_are_followed() {
    let f = TestApp::with_projects().await;
    for next in ["/\t/evil.example", "//evil.example", "https://evil.example/", "/\\evil.example", "/a\r\nX: y"] {
        let r = login(&f.app, "alice", "alice-password", next).await;
        assert!(r.status().is_redirection(), "{next:?}: {}", r.status());
        assert_eq!(r.headers()["location"], "/", "{next:?}");
    }
    let r = login(&f.app, "alice", "alice-password", "/gh/acme/secret?x=1").await;
    assert_eq!(r.headers()["location"], "/gh/acme/secret?x=1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_floods_meet_429s_and_never_a_server_error() {
    let f = TestApp::with_projects().await;
    // One account guessed at: locked after ten failures, with a Retry-After.
    for _ in 0..10 {
        assert_eq!(login(&f.app, "bob", "guess", "").await.status().as_u16(), 401);
    }
    let r = login(&f.app, "bob", "bob-password", "").await;
    assert_eq!(r.status().as_u16(), 429, "even the right password waits for the window to end");
    let wait: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=900).contains(&wait), "{wait}");
    assert!(r.text().await.unwrap().contains("Too many failed sign-ins"));

    // Many accounts from one address, 48 at a time: 401s, then 429s; nothing else.
    let attempts = (0..200).map(|i| {
        let app = &f.app;
        async move { login(app, &format!("nobody{}", i % 48), "guess", "").await.status().as_u16() }
    });
    let statuses: Vec<u16> = futures::stream::iter(attempts).buffer_unordered(48).collect().await;
    assert!(statuses.iter().all(|s| *s == 401 || *s == 429), "{statuses:?}");
    assert!(statuses.contains(&429), "the address limit is met");
    assert_eq!(f.app.get("/healthz", None).await.status().as_u16(), 200);
    let r = login(&f.app, "alice", "alice-password", "").await;
    assert_eq!(r.status().as_u16(), 429, "this address waits too");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_ins_from_other_sites_are_refused_with_or_without_a_cookie() {
    let f = TestApp::with_projects().await;
    let form = [("username", "alice"), ("password", "alice-password"), ("next", "")];
    let post = || f.app.http.post(format!("{}/api/login", f.app.url)).form(&form);
    // Login CSRF: a page elsewhere signs the visitor in to an account of its choosing.
    let r = post().header("Sec-Fetch-Site", "cross-site").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 403);
    assert!(r.headers().get("set-cookie").is_none());
    // A browser that sends no Sec-Fetch-Site still names the page's origin.
    let r = post().header("Origin", "https://evil.example").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let r = post().header("Origin", f.app.url.as_str()).send().await.unwrap();
    assert!(r.headers().get("set-cookie").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
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

/// The project page pages its builds by key, 50 at a time, and filters them by branch and
/// status; every state is in the address, rendered on the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_project_page_pages_and_filters_builds_by_its_address() {
    let f = TestApp::with_projects().await;
    let token = f.public_build_token.clone();
    for n in 1..=55 {
        let branch = if n % 2 == 0 { "main" } else { "feature/x" };
        let (status, started) = agent_call(
            &f,
            &token,
            "/api/agent/projects/gh/acme/public-site/builds",
            serde_json::json!({"branch": branch}),
        )
        .await;
        assert_eq!(status, 200, "{started}");
        let outcome = if n % 5 == 0 { "failed" } else { "success" };
        let finish = format!("/api/agent/projects/gh/acme/public-site/builds/{n}/finish");
        assert_eq!(agent_call(&f, &token, &finish, serde_json::json!({"status": outcome})).await.0, 200);
    }
    let page = |query: &'static str| {
        let app = &f.app;
        async move {
            let r = app.get(&format!("/gh/acme/public-site{query}"), None).await;
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let shown = |html: &str| -> Vec<i64> {
        html.split(r#"<a href="/gh/acme/public-site/"#)
            .skip(1)
            .filter_map(|rest| rest.split('"').next()?.parse().ok())
            .collect()
    };
    let (status, html) = page("").await;
    assert_eq!(status, 200);
    assert_eq!(shown(&html), (6..=55).rev().collect::<Vec<_>>(), "the newest 50");
    assert!(html.contains("before=6"), "a link to the older builds");
    let (_, html) = page("?branch=&status=&before=6").await;
    assert_eq!(shown(&html), vec![5, 4, 3, 2, 1]);
    assert!(!html.contains("Older builds"));
    let (_, html) = page("?status=failed").await;
    assert_eq!(shown(&html), vec![55, 50, 45, 40, 35, 30, 25, 20, 15, 10, 5]);
    let (_, html) = page("?branch=main&status=failed").await;
    assert_eq!(shown(&html), vec![50, 40, 30, 20, 10]);
    let (_, html) = page("?branch=nowhere").await;
    assert!(html.contains("No builds match."), "{html}");
    let (status, html) = page("?status=sometimes").await;
    assert_eq!(status, 400);
    assert!(html.contains("Invalid filter `sometimes`"), "{html}");
    assert_eq!(page("?before=x").await.0, 400);
}
