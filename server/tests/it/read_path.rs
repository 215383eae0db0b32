//! The read path with its caches warm: finished builds' listings come compressed with an
//! ETag (and `304`), answers say how long they may be kept, and access changes made at the
//! command line (a revoked token, a removed member, a project made private, a purge) hold
//! within `lookups::FRESH_FOR` (4 s) even while every cache has the old answer.

use std::io::Read;

use vitrine::core::artifacts::{DOWNLOAD_URL_TTL, REDIRECT_MAX_AGE};

use crate::common::*;

const SECRET: &str = "/api/v1.1/project/gh/acme/secret/1/artifacts";
const SECRET_FILE: &str = "/api/v1.1/project/gh/acme/secret/1/artifacts/0/$CIRCLE_ARTIFACTS/s.txt";
const PUBLIC: &str = "/api/v1.1/project/gh/acme/public-site/1/artifacts";
const PUBLIC_FILE: &str = "/api/v1.1/project/gh/acme/public-site/1/artifacts/0/$CIRCLE_ARTIFACTS/a.txt";

async fn status(app: &TestApp, path: &str, token: Option<&str>) -> u16 {
    app.get(path, token).await.status().as_u16()
}

fn gunzip(bytes: &[u8]) -> String {
    let mut json = String::new();
    flate2::read::GzDecoder::new(bytes).read_to_string(&mut json).expect("gzip");
    json
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_listings_come_compressed_with_an_etag_and_stay_right_after_a_purge() {
    let f = TestApp::with_projects().await;
    let app = &f.app;
    let script = "echo one > \"$CIRCLE_ARTIFACTS/a.txt\"; echo two > \"$CIRCLE_ARTIFACTS/b.txt\"";
    assert_ok(&app.run_build(&f.private_build_token, "gh/acme/secret", "main", script).await);
    let url = format!("{}{SECRET}", app.url);
    let get = |headers: &[(&str, &str)]| {
        let mut req = app.http.get(&url).header("Circle-Token", &f.member_token);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        async move { req.send().await.unwrap() }
    };

    // Without gzip: plain JSON, as CircleCI answers.
    let plain = get(&[]).await;
    assert_eq!(plain.status().as_u16(), 200);
    assert!(plain.headers().get("content-encoding").is_none());
    assert_eq!(plain.headers()["cache-control"], "private, no-cache", "a private project's listing");
    let etag = plain.headers()["etag"].to_str().unwrap().to_owned();
    let json = plain.text().await.unwrap();
    let listed: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2);

    // With gzip: the same bytes compressed, the same ETag.
    let zipped = get(&[("Accept-Encoding", "gzip, br")]).await;
    assert_eq!(zipped.headers()["content-encoding"], "gzip");
    assert_eq!(zipped.headers()["etag"], etag.as_str());
    assert_eq!(gunzip(&zipped.bytes().await.unwrap()), json);

    // A client that has it hears 304, with no body; a stale tag gets the listing.
    let again = get(&[("If-None-Match", etag.as_str()), ("Accept-Encoding", "gzip")]).await;
    assert_eq!(again.status().as_u16(), 304);
    assert_eq!(again.headers()["etag"], etag.as_str());
    assert!(again.bytes().await.unwrap().is_empty());
    assert_eq!(get(&[("If-None-Match", "\"stale\"")]).await.status().as_u16(), 200);
    // Who may not see it hears nothing about it, ETag or not.
    let outsider = app.http.get(&url).header("Circle-Token", &f.outsider_token).header("If-None-Match", &etag);
    assert_eq!(outsider.send().await.unwrap().status().as_u16(), 404);

    // A purge at the command line: the kept listing goes stale, the new one has a new ETag.
    app.admin(&["purge", "gh/acme/secret", "1", "$CIRCLE_ARTIFACTS/b.txt"]).await;
    within_fresh_for("the purged artifact leaves the listing", || async {
        let r = get(&[("If-None-Match", etag.as_str()), ("Accept-Encoding", "gzip")]).await;
        if r.status().as_u16() == 304 {
            return false;
        }
        assert_eq!(r.status().as_u16(), 200);
        assert_ne!(r.headers()["etag"], etag.as_str());
        let listed: serde_json::Value = serde_json::from_str(&gunzip(&r.bytes().await.unwrap())).unwrap();
        let paths: Vec<&str> = listed.as_array().unwrap().iter().map(|a| a["pretty_path"].as_str().unwrap()).collect();
        assert_eq!(paths, ["$CIRCLE_ARTIFACTS/a.txt"]);
        true
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_may_be_kept_only_within_the_signed_urls_life() {
    let f = TestApp::with_projects().await;
    let app = &f.app;
    assert_ok(
        &app.run_build(&f.public_build_token, "gh/acme/public-site", "main", "echo a > \"$CIRCLE_ARTIFACTS/a.txt\"")
            .await,
    );
    let r = app.get(PUBLIC_FILE, None).await;
    assert_eq!(r.status().as_u16(), 302);
    assert_eq!(r.headers()["cache-control"], format!("private, max-age={}", REDIRECT_MAX_AGE.as_secs()).as_str());
    assert!(r.headers()["vary"].to_str().unwrap().contains("Sec-Fetch-Mode"));
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let expires: u64 = location
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("X-Amz-Expires="))
        .expect("a signed URL")
        .parse()
        .unwrap();
    assert_eq!(expires, DOWNLOAD_URL_TTL.as_secs());
    assert!(REDIRECT_MAX_AGE.as_secs() < expires, "a kept redirect never leads to an expired URL");
    // The URL the fast signer made is one the store takes, with the type it was given.
    let object = reqwest::get(&location).await.unwrap();
    assert_eq!(object.status().as_u16(), 200);
    assert!(object.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    assert_eq!(object.text().await.unwrap(), "a\n");
    // Listings of a public project may be kept by anyone, revalidated each time.
    assert_eq!(app.get(PUBLIC, None).await.headers()["cache-control"], "public, no-cache");
    // Other answers of the API are not kept.
    assert_eq!(app.get("/api/v1.1/me", Some(&f.member_token)).await.headers()["cache-control"], "no-store");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocations_hold_within_seconds_with_every_cache_warm() {
    let f = TestApp::with_projects().await;
    let app = &f.app;
    assert_ok(
        &app.run_build(&f.private_build_token, "gh/acme/secret", "main", "echo s > \"$CIRCLE_ARTIFACTS/s.txt\"").await,
    );
    assert_ok(
        &app.run_build(&f.public_build_token, "gh/acme/public-site", "main", "echo a > \"$CIRCLE_ARTIFACTS/a.txt\"")
            .await,
    );
    let second = last_line(&app.admin(&["token", "create", "alice"]).await);
    let cookie = app.sign_in("alice", "alice-password").await;
    // Warm: the token, the session, the project, the membership, the build, the artifact,
    // the listing.
    for token in [&f.member_token, &second] {
        assert_eq!(status(app, SECRET, Some(token)).await, 200);
        assert_eq!(status(app, SECRET_FILE, Some(token)).await, 302);
    }
    assert_eq!(app.get_with_cookie(SECRET_FILE, &cookie).await.status().as_u16(), 302);
    assert_eq!(status(app, PUBLIC, None).await, 200);
    assert_eq!(status(app, PUBLIC_FILE, None).await, 302);

    // A revoked token stops working within seconds; the other one works on.
    let list = String::from_utf8_lossy(&app.admin(&["token", "list", "alice"]).await.stdout).into_owned();
    let id = list.lines().find(|l| l.contains(" alice ")).unwrap().split_whitespace().next().unwrap().to_owned();
    app.admin(&["token", "revoke", &id]).await;
    let took = within_fresh_for("the revoked token is refused", || async {
        status(app, SECRET_FILE, Some(&f.member_token)).await == 401
    })
    .await;
    assert_eq!(status(app, SECRET, Some(&f.member_token)).await, 401);
    assert_eq!(status(app, SECRET_FILE, Some(&second)).await, 302, "only that token (took {took:?})");

    // A member removed: their other token and their session see the project no more.
    app.admin(&["member", "remove", "gh/acme/secret", "alice"]).await;
    within_fresh_for("the removed member is refused", || async {
        status(app, SECRET_FILE, Some(&second)).await == 404 && status(app, SECRET, Some(&second)).await == 404
    })
    .await;
    within_fresh_for("the removed member's session is refused", || async {
        app.get_with_cookie(SECRET_FILE, &cookie).await.status().as_u16() == 404
    })
    .await;

    // A public project made private: anonymous readers lose its listing and its links.
    app.admin(&["project", "add", "gh/acme/public-site"]).await;
    within_fresh_for("the project made private is hidden", || async {
        status(app, PUBLIC, None).await == 404 && status(app, PUBLIC_FILE, None).await == 404
    })
    .await;
    // And an ETag learnt while it was public tells nothing now.
    let r = app.http.get(format!("{}{PUBLIC}", app.url)).header("If-None-Match", "*").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 404);
}

/// The site's client bundle as `cargo leptos build --release --precompress` leaves it with
/// `hash-files`: the page names the hashed files, which come precompressed (brotli first, then
/// gzip) and are kept a year; wasm-bindgen's snippets, with plain names, are asked for again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_bundle_comes_precompressed_by_its_hashed_name_and_is_kept() {
    let site = tempfile::tempdir().unwrap();
    let pkg = site.path().join("pkg");
    std::fs::create_dir_all(pkg.join("snippets/x")).unwrap();
    let js = "console.log('hydrate');\n".repeat(40);
    std::fs::write(pkg.join("vitrine.h4sh.js"), &js).unwrap();
    std::fs::write(pkg.join("vitrine.h4sh.js.br"), b"brotli bytes").unwrap();
    std::fs::write(pkg.join("vitrine.h4sh.js.gz"), b"gzip bytes").unwrap();
    std::fs::write(pkg.join("snippets/x/inline0.js"), "export const x = 1;\n").unwrap();
    std::fs::write(site.path().join("hash.txt"), "js: h4sh\nwasm: w4sm\ncss: c4ss\n").unwrap();
    let root = site.path().to_path_buf();
    let app = TestApp::start_configured(UploadSettings::default(), test_database().await, move |config| {
        vitrine::serve::ServeConfig { site_root: root, ..config }
    })
    .await;

    // A page of the app (here a build that does not exist): its document names the bundle.
    let html = app.get("/gh/acme/missing/1", None).await.text().await.unwrap();
    for name in ["/pkg/vitrine.h4sh.js", "/pkg/vitrine.w4sm.wasm", "/pkg/vitrine.c4ss.css"] {
        assert!(html.contains(name), "{name} in {html}");
    }
    let get = |path: &str, encodings: &str| {
        let request = app.http.get(format!("{}{path}", app.url)).header("Accept-Encoding", encodings);
        async move { request.send().await.unwrap() }
    };
    let cases = [
        ("gzip, deflate, br", Some("br"), &b"brotli bytes"[..]),
        ("gzip", Some("gzip"), b"gzip bytes"),
        ("identity", None, js.as_bytes()),
    ];
    for (accepts, encoding, body) in cases {
        let r = get("/pkg/vitrine.h4sh.js", accepts).await;
        assert_eq!(r.status().as_u16(), 200, "{accepts}");
        assert_eq!(r.headers().get("content-encoding").map(|v| v.to_str().unwrap()), encoding, "{accepts}");
        assert_eq!(r.headers()["cache-control"], "public, max-age=31536000, immutable");
        assert!(r.headers().get_all("vary").iter().any(|v| v.to_str().unwrap().contains("Accept-Encoding")));
        assert!(r.headers()["content-type"].to_str().unwrap().contains("javascript"), "{:?}", r.headers());
        assert_eq!(&r.bytes().await.unwrap()[..], body, "{accepts}");
    }
    let snippet = get("/pkg/snippets/x/inline0.js", "identity").await;
    assert_eq!(snippet.status().as_u16(), 200);
    assert_eq!(snippet.headers()["cache-control"], "public, no-cache");
    assert_eq!(get("/pkg/vitrine.0ther.js", "gzip").await.status().as_u16(), 404);
}
