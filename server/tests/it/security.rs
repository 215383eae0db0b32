//! The embedded S3 server checks signatures; signed URLs cannot be bent to other objects.

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_unknown_api_routes() {
    let app = TestApp::start().await;
    let r = app.get("/healthz", None).await;
    assert_eq!(r.status().as_u16(), 200);
    let (status, body) = app.get_json("/api/v1.1/nope", None).await;
    assert_eq!(status, 404);
    assert!(body["message"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
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

/// What a browser sends when it opens a link as a page.
fn navigate(req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    req.header("Sec-Fetch-Mode", "navigate").header("Sec-Fetch-Dest", "document")
}

const REPORT_BUILD: &str = r#"
    mkdir -p "$CIRCLE_ARTIFACTS/report/pages/deep"
    echo '<link rel="stylesheet" href="style.css"><a href="pages/two.html">two</a>' > "$CIRCLE_ARTIFACTS/report/index.html"
    echo 'body { color: red }' > "$CIRCLE_ARTIFACTS/report/style.css"
    echo '<p>page two</p>' > "$CIRCLE_ARTIFACTS/report/pages/two.html"
    echo '<link rel="stylesheet" href="../../style.css">' > "$CIRCLE_ARTIFACTS/report/pages/deep/three.html"
    echo '<svg xmlns="http://www.w3.org/2000/svg"/>' > "$CIRCLE_ARTIFACTS/chart.svg"
    echo 'AWS_SECRET=hunter2' > "$CIRCLE_ARTIFACTS/env.txt"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn html_reports_open_on_their_own_origin_with_relative_links_working() {
    let f = TestApp::with_projects().await;
    assert_ok(&f.app.run_build(&f.private_build_token, "gh/acme/secret", "main", REPORT_BUILD).await);
    let route = "/api/v1.1/project/gh/acme/secret/1/artifacts/0/$CIRCLE_ARTIFACTS/report/pages/deep/three.html";
    let open = |route: &str| {
        navigate(f.app.http.get(format!("{}{route}", f.app.url))).header("Circle-Token", &f.member_token).send()
    };
    assert_eq!(navigate(f.app.http.get(format!("{}{route}", f.app.url))).send().await.unwrap().status(), 404);
    let r = open(route).await.unwrap();
    assert_eq!(r.status().as_u16(), 302);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let origin = &f.app.running.artifacts_url;
    assert!(location.starts_with(&format!("{origin}/c/")), "{location}");
    assert_ne!(origin, &f.app.url);

    let page = reqwest::get(&location).await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.starts_with("sandbox ") && !csp.contains("allow-same-origin"), "one origin for all: opaque: {csp}");
    assert!(page.headers().get("set-cookie").is_none());
    assert!(page.text().await.unwrap().contains("../../style.css"));
    // A nested page's links resolve under the same capability prefix, up to the report's
    // top-level folder.
    let (cap_prefix, _) = location.split_once("/report/").unwrap();
    let get = |path: &str| reqwest::get(format!("{cap_prefix}/{path}"));
    let css = get("report/style.css").await.unwrap();
    assert_eq!(css.status().as_u16(), 200);
    assert_eq!(css.text().await.unwrap(), "body { color: red }\n");
    assert_eq!(get("report/pages/two.html").await.unwrap().text().await.unwrap(), "<p>page two</p>\n");
    // Nothing outside that folder opens with it: not the build's other files.
    for outside in ["env.txt", "chart.svg"] {
        let r = get(outside).await.unwrap();
        assert_eq!(r.status().as_u16(), 404, "{outside}");
        assert!(!r.text().await.unwrap().contains("hunter2"));
    }
    let escape = format!("{cap_prefix}/report/..%2Fenv.txt");
    assert_eq!(reqwest::get(&escape).await.unwrap().status().as_u16(), 400);

    // A changed capability opens nothing.
    let (prefix, rest) = location.split_once("/c/").unwrap();
    let tampered = format!("{prefix}/c/A{}", &rest[1..]);
    assert_eq!(reqwest::get(&tampered).await.unwrap().status().as_u16(), 404);

    // SVG is active content too.
    let r = open("/api/v1.1/project/gh/acme/secret/1/artifacts/0/$CIRCLE_ARTIFACTS/chart.svg").await.unwrap();
    assert!(r.headers()["location"].to_str().unwrap().starts_with(origin.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_get_the_bytes_of_every_type_from_a_signed_url() {
    let f = TestApp::with_projects().await;
    assert_ok(&f.app.run_build(&f.private_build_token, "gh/acme/secret", "main", REPORT_BUILD).await);
    let route = "/api/v1.1/project/gh/acme/secret/1/artifacts/0/$CIRCLE_ARTIFACTS/report/index.html";
    let r = f.app.get(route, Some(&f.member_token)).await;
    assert_eq!(r.status().as_u16(), 302);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.contains("X-Amz-Signature="), "curl and API clients get the bytes: {location}");
    let bytes = reqwest::get(&location).await.unwrap();
    assert_eq!(bytes.status().as_u16(), 200);
    // A browser that lands there anyway downloads the page instead of running it.
    assert!(bytes.headers()["content-disposition"].to_str().unwrap().starts_with("attachment;"));
    assert!(bytes.text().await.unwrap().contains("pages/two.html"));
    // An old browser that sends no Sec-Fetch-* but asks for HTML gets the artifacts origin.
    let r = f.app.http.get(format!("{}{route}", f.app.url)).header("Accept", "text/html,*/*;q=0.8");
    let r = r.header("Circle-Token", &f.member_token).send().await.unwrap();
    assert!(r.headers()["location"].to_str().unwrap().starts_with(&f.app.running.artifacts_url));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_wildcard_artifacts_url_each_build_has_its_own_origin() {
    let port = free_port();
    let site = crate::viewer::site_with_trace_viewer();
    let root = site.path().to_path_buf();
    let f = TestApp::with_projects_configured(UploadSettings::default(), test_database().await, |config| {
        vitrine::serve::ServeConfig {
            artifacts_addr: format!("127.0.0.1:{port}").parse().unwrap(),
            artifacts_url: Some(format!("http://*.artifacts.localhost:{port}")),
            site_root: root,
            ..config
        }
    })
    .await;
    for _ in 0..2 {
        assert_ok(&f.app.run_build(&f.private_build_token, "gh/acme/secret", "main", REPORT_BUILD).await);
    }
    let mut locations = vec![];
    for build in [1, 2] {
        let route = format!(
            "{}/api/v1.1/project/gh/acme/secret/{build}/artifacts/0/$CIRCLE_ARTIFACTS/report/index.html",
            f.app.url
        );
        let r = navigate(f.app.http.get(route)).header("Circle-Token", &f.member_token).send().await.unwrap();
        locations.push(r.headers()["location"].to_str().unwrap().to_owned());
    }
    let host = |url: &str| url.split('/').nth(2).unwrap().split(':').next().unwrap().to_owned();
    let (one, two) = (host(&locations[0]), host(&locations[1]));
    assert!(one.ends_with(".artifacts.localhost") && two.ends_with(".artifacts.localhost"), "{locations:?}");
    assert_ne!(one, two, "each build is an origin of its own");

    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let http = reqwest::Client::builder().resolve(&one, addr).resolve(&two, addr).build().unwrap();
    let page = http.get(&locations[0]).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    // Its own origin: a page may keep state there (Playwright's HTML report does).
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.starts_with("sandbox ") && csp.contains("allow-same-origin"), "{csp}");
    assert!(page.text().await.unwrap().contains("pages/two.html"));
    // Build 1's capability on build 2's host (or any other) opens nothing.
    let elsewhere = locations[0].replacen(&one, &two, 1);
    assert_eq!(http.get(&elsewhere).send().await.unwrap().status().as_u16(), 404);
    let bare = locations[0].replacen(&format!("{one}:{port}"), &format!("127.0.0.1:{port}"), 1);
    assert_eq!(reqwest::get(&bare).await.unwrap().status().as_u16(), 404);

    // Playwright's trace viewer has a host name of its own there, and only there.
    let viewer = f.app.running.trace_viewer_url.clone().expect("the trace viewer is installed");
    assert_eq!(viewer, format!("http://trace-viewer.artifacts.localhost:{port}"));
    let http = http_resolving(&["trace-viewer.artifacts.localhost", &one], addr);
    let page = http.get(format!("{viewer}/trace-viewer/index.html")).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let on_a_build = format!("http://{one}:{port}/trace-viewer/index.html");
    assert_eq!(http.get(&on_a_build).send().await.unwrap().status().as_u16(), 404, "not beside a build's pages");
    let capability = locations[0].replacen(&one, "trace-viewer.artifacts.localhost", 1);
    assert_eq!(http.get(&capability).send().await.unwrap().status().as_u16(), 404, "no build's pages beside it");
}

fn http_resolving(hosts: &[&str], addr: std::net::SocketAddr) -> reqwest::Client {
    hosts.iter().fold(reqwest::Client::builder(), |b, host| b.resolve(host, addr)).build().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_pages_run_only_their_own_scripts() {
    let app = TestApp::start().await;
    let r = app.get("/login", None).await;
    assert_eq!(r.status().as_u16(), 200);
    let csp = r.headers()["content-security-policy"].to_str().unwrap().to_owned();
    let body = r.text().await.unwrap();
    let nonce = csp.split("'nonce-").nth(1).and_then(|rest| rest.split('\'').next()).expect("a nonce in {csp}");
    assert!(nonce.len() >= 16, "{csp}");
    assert!(body.contains(&format!("nonce=\"{nonce}\"")), "the hydration script carries the nonce");
    for directive in ["frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'"] {
        assert!(csp.contains(directive), "{directive} in {csp}");
    }
    assert!(!csp.contains("unsafe-inline") && !csp.contains("'unsafe-eval'"), "{csp}");
    let again = app.get("/login", None).await;
    assert!(!again.headers()["content-security-policy"].to_str().unwrap().contains(nonce), "a nonce per page");
}

/// A capability is checked again at each use: whoever it was handed to must still be able to
/// read the build. A removed member, a disabled user, a revoked token, a project made private
/// and a purge reach the links already handed out within the lookups' few seconds (on every
/// server: they ask the metadata store), and a rotated key stops them all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocations_reach_the_links_already_handed_out() {
    let f = TestApp::with_projects().await;
    assert_ok(&f.app.run_build(&f.private_build_token, "gh/acme/secret", "main", REPORT_BUILD).await);
    assert_ok(&f.app.run_build(&f.public_build_token, "gh/acme/public-site", "main", REPORT_BUILD).await);
    let link = |project: &'static str, page: &'static str, token: Option<String>| {
        let route = format!("/api/v1.1/project/gh/acme/{project}/1/artifacts/0/$CIRCLE_ARTIFACTS/report/{page}");
        let app = &f.app;
        async move {
            let mut request = navigate(app.http.get(format!("{}{route}", app.url)));
            if let Some(token) = token {
                request = request.header("Circle-Token", token);
            }
            let r = request.send().await.unwrap();
            assert_eq!(r.status().as_u16(), 302, "{route}");
            r.headers()["location"].to_str().unwrap().to_owned()
        }
    };
    let opens = |url: String| async move { reqwest::get(&url).await.unwrap().status().as_u16() == 200 };
    let stops = |url: String| async move { reqwest::get(&url).await.unwrap().status().as_u16() == 404 };

    // A member removed: the link alice's token got stops.
    let alices = link("secret", "index.html", Some(f.member_token.clone())).await;
    assert!(opens(alices.clone()).await);
    assert_ok(&f.app.admin(&["member", "remove", "gh/acme/secret", "alice"]).await);
    within_fresh_for("a removed member's link", || stops(alices.clone())).await;
    assert_ok(&f.app.admin(&["member", "add", "gh/acme/secret", "alice"]).await);
    within_fresh_for("a member again", || opens(alices.clone())).await;

    // A disabled user, then a revoked token.
    assert_ok(&f.app.admin(&["user", "disable", "alice"]).await);
    within_fresh_for("a disabled user's link", || stops(alices.clone())).await;
    assert_ok(&f.app.admin(&["user", "enable", "alice"]).await);
    within_fresh_for("enabled again", || opens(alices.clone())).await;
    assert_ok(&f.app.admin(&["token", "revoke", &f.member_token]).await);
    within_fresh_for("a revoked token's link", || stops(alices.clone())).await;

    // A public project made private: the links anyone got stop.
    let anyones = link("public-site", "index.html", None).await;
    assert!(opens(anyones.clone()).await);
    assert_ok(&f.app.admin(&["project", "add", "gh/acme/public-site"]).await);
    within_fresh_for("a project made private", || stops(anyones.clone())).await;
    assert_ok(&f.app.admin(&["project", "add", "gh/acme/public-site", "--public"]).await);
    within_fresh_for("public again", || opens(anyones.clone())).await;

    // A purged file is gone from its links at once.
    assert_ok(&f.app.admin(&["purge", "gh/acme/public-site", "1", "$CIRCLE_ARTIFACTS/report/index.html"]).await);
    assert!(stops(anyones.clone()).await, "purged");

    // A rotated key stops every link handed out before, within its refresh.
    let style = anyones.replace("index.html", "style.css");
    assert!(opens(style.clone()).await);
    let out = f.app.admin(&["capabilities", "rotate"]).await;
    assert_ok(&out);
    let started = std::time::Instant::now();
    while !stops(style.clone()).await {
        assert!(started.elapsed() < vitrine::serve::KEY_REFRESH * 3, "the old key still opens links");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // A link handed out now works.
    let fresh = link("public-site", "pages/two.html", None).await;
    assert!(opens(fresh).await, "a new link, with the new key");
}
