//! The build page's data path: a folder of one container a page at a time, from ranges of the
//! index, and a filter answered by the server; never a whole build's rows.

use serde_json::Value;
use vitrine_app::api::{GalleryImages, GalleryRequest};

use crate::common::*;

/// The Artifacts tab's server function, as the page calls it.
async fn browse(f: &Fixture, cookie: Option<&str>, node: i64, folder: &str, filter: &str, after: &str) -> (u16, Value) {
    f.app.server_fn("browse", cookie, &browse_args("secret", node, folder, filter, after)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn folders_open_a_page_at_a_time_and_the_filter_searches_the_whole_build() {
    let f = TestApp::with_projects().await;
    let script = r#"
        cd "$CIRCLE_ARTIFACTS"
        mkdir -p shots/deep z
        echo a > a.txt; echo l > shots.log; echo s > shots0.txt; echo z > z/last.txt; echo d > shots/deep/x.png
        for i in $(seq 1 450); do echo "$i" > "shots/$i.png"; done
    "#;
    assert_ok(&f.app.run_build(&f.private_build_token, "gh/acme/secret", "main", script).await);
    let cookie = f.app.sign_in("alice", "alice-password").await;
    let me = Some(cookie.as_str());

    assert_eq!(browse(&f, None, 0, "", "", "").await.0, 404, "a private build is hidden from visitors");
    // The top holds `$CIRCLE_ARTIFACTS/` alone: it opens at once. Files and folders come in
    // byte order (`shots.log` < `shots/` < `shots0.txt`), folders with what they hold at any
    // depth.
    let (status, top) = browse(&f, me, 0, "", "", "").await;
    assert_eq!(status, 200, "{top}");
    assert_eq!(top["folder"], "$CIRCLE_ARTIFACTS/");
    let (_, dir) = browse(&f, me, 0, "$CIRCLE_ARTIFACTS/", "", "").await;
    assert_eq!(names(&dir), ["a.txt", "shots.log", "shots/ 451", "shots0.txt", "z/ 1"]);
    assert_eq!(names(&top), names(&dir));
    assert!(dir["next"].is_null());

    // 451 entries in pages of 200, each once, in order.
    let mut seen = vec![];
    let mut after = String::new();
    let mut pages = 0;
    loop {
        let (status, page) = browse(&f, me, 0, "$CIRCLE_ARTIFACTS/shots/", "", &after).await;
        assert_eq!(status, 200, "{page}");
        assert!(page["entries"].as_array().unwrap().len() <= 200);
        seen.extend(names(&page));
        pages += 1;
        match page["next"].as_str() {
            Some(next) => after = next.to_owned(),
            None => break,
        }
    }
    assert!(pages >= 3, "{pages} pages");
    assert_eq!(seen.len(), 451);
    assert_eq!(seen.last().map(String::as_str), Some("deep/ 1"));
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 451, "no entry twice");

    // The filter: any case, anywhere in the path, across the build.
    let (_, found) = browse(&f, me, 0, "", "SHOTS/4", "").await;
    assert_eq!(found["entries"].as_array().unwrap().len(), 1 + 10 + 51, "4, 40-49, 400-450");
    assert_eq!(found["more_matches"], false);
    let (_, many) = browse(&f, me, 0, "", ".png", "").await;
    assert_eq!(many["entries"].as_array().unwrap().len(), 200);
    assert_eq!(many["more_matches"], true);

    // A page token from another folder, or a folder that is not one, is refused in words.
    let (status, wrong) = browse(&f, me, 0, "$CIRCLE_ARTIFACTS/z/", "", "$CIRCLE_ARTIFACTS/shots/5.png").await;
    assert_eq!(status, 400, "{wrong}");
    let (status, _) = browse(&f, me, 0, "$CIRCLE_ARTIFACTS", "", "").await;
    assert_eq!(status, 400);

    // Without JavaScript the same folders are plain links on the page.
    let page = f
        .app
        .get_with_cookie("/gh/acme/secret/1?tab=artifacts&node=0&folder=%24CIRCLE_ARTIFACTS%2Fshots%2F", &cookie)
        .await;
    let html = markup(&page.text().await.unwrap());
    assert!(html.contains("rel=\"next\""), "a link to the next page");
    assert!(html.contains(">100.png</a>"), "the folder's files are on the page");
    assert!(!html.contains(">99.png</a>"), "the second page is not");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latest_links_in_the_sites_shape_follow_the_newest_build_of_a_branch() {
    let f = TestApp::with_projects().await;
    for (branch, text) in [("main", "one"), ("main", "two"), ("feature", "three")] {
        let script = format!("echo {text} > \"$CIRCLE_ARTIFACTS/out.txt\"");
        assert_ok(&f.app.run_build(&f.public_build_token, "gh/acme/public-site", branch, &script).await);
    }
    let latest =
        |query: &str| format!("{}/gh/acme/public-site/latest/artifacts/0/$CIRCLE_ARTIFACTS/out.txt{query}", f.app.url);
    assert_eq!(f.app.download(&latest("?branch=main"), None).await.1, b"two\n");
    assert_eq!(f.app.download(&latest("?branch=feature&filter=successful"), None).await.1, b"three\n");
    assert_eq!(f.app.download(&latest(""), None).await.1, b"three\n", "any branch: the newest build");
    // A build number works too, and a private project's stays hidden from visitors.
    let one = format!("{}/gh/acme/public-site/1/artifacts/0/$CIRCLE_ARTIFACTS/out.txt", f.app.url);
    assert_eq!(f.app.download(&one, None).await.1, b"one\n");
    assert_eq!(f.app.get("/gh/acme/secret/latest/artifacts/0/x.txt", None).await.status().as_u16(), 404);
}

/// The Artifacts tab's opened file, as the page asks for it.
async fn open(f: &Fixture, cookie: Option<&str>, path: &str) -> (u16, Value) {
    f.app.server_fn("file", cookie, &file_args("secret", 1, path)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opened_files_preview_logs_json_and_junit_reports_and_offer_the_rest_as_downloads() {
    let f = TestApp::with_projects().await;
    let script = r#"
        cd "$CIRCLE_ARTIFACTS"
        printf 'compiling\n\033[1;31mFAILED\033[0m test_login\n 10%%\r100%%\n' > build.log
        printf '{"z": 1, "a": [true, null], "m": {"k": "v"}}' > result.json
        cat > junit.xml <<'XML'
<?xml version="1.0" encoding="UTF-8"?>
<testsuites>
  <testsuite name="checkout" tests="3">
    <testcase classname="cart" name="adds an item" time="0.10"/>
    <testcase classname="cart" name="applies a coupon" time="0.20">
      <failure message="expected 90, got 100">AssertionError at cart.test.js:42</failure>
    </testcase>
    <testcase classname="cart" name="pays" time="0.30"><skipped/></testcase>
  </testsuite>
</testsuites>
XML
        head -c 3000000 /dev/zero | tr '\0' 'x' > big.txt
        printf 'bin\000ary' > blob.bin
        printf 'not \000 text' > odd.log
        printf '<h1>report</h1>' > index.html
        printf '\211PNG' > shot.png
    "#;
    assert_ok(&f.app.run_build(&f.private_build_token, "gh/acme/secret", "main", script).await);
    let cookie = f.app.sign_in("alice", "alice-password").await;
    let me = Some(cookie.as_str());
    let at = |name: &str| format!("$CIRCLE_ARTIFACTS/{name}");

    assert_eq!(open(&f, None, &at("build.log")).await.0, 404, "a private build's files are hidden from visitors");
    let (status, log) = open(&f, me, &at("build.log")).await;
    assert_eq!(status, 200, "{log}");
    let runs = log["preview"]["Text"]["runs"].as_array().unwrap();
    let text: String = runs.iter().map(|r| r["text"].as_str().unwrap()).collect();
    assert_eq!(text, "compiling\nFAILED test_login\n100%\n", "colours become runs; a progress bar its last state");
    assert!(runs.iter().any(|r| r["text"] == "FAILED" && r["class"] == "b f1"), "{runs:?}");
    assert_eq!(log["preview"]["Text"]["truncated"], false);
    assert_eq!(log["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(log["artifact"]["size"], 49);

    let (_, json) = open(&f, me, &at("result.json")).await;
    assert_eq!(
        json["preview"]["Json"]["text"],
        "{\n  \"z\": 1,\n  \"a\": [\n    true,\n    null\n  ],\n  \"m\": {\n    \"k\": \"v\"\n  }\n}",
        "pretty, keys in their order"
    );

    let (_, junit) = open(&f, me, &at("junit.xml")).await;
    let report = &junit["preview"]["JUnit"];
    assert_eq!(
        (report["total"].as_u64(), report["failed"].as_u64(), report["skipped"].as_u64()),
        (Some(3), Some(1), Some(1))
    );
    assert_eq!(report["cases"][0]["name"], "applies a coupon", "failures first");
    assert_eq!(report["cases"][0]["message"], "expected 90, got 100");
    assert_eq!(report["cases"][0]["detail"], "AssertionError at cart.test.js:42");

    let (_, big) = open(&f, me, &at("big.txt")).await;
    assert_eq!(big["preview"]["Text"]["shown"], 1 << 20, "the first MiB");
    assert_eq!(big["preview"]["Text"]["truncated"], true);

    for (name, kind) in
        [("blob.bin", "Download"), ("odd.log", "Download"), ("index.html", "Page"), ("shot.png", "Image")]
    {
        let (status, file) = open(&f, me, &at(name)).await;
        assert_eq!((status, &file["preview"]), (200, &Value::String(kind.into())), "{name}");
    }
    let (status, missing) = open(&f, me, &at("nope.txt")).await;
    assert_eq!(status, 404, "{missing}");

    // Reading a private file through the page is a read: it is in the audit log.
    f.app.running.vitrine.audit().flush().await;
    let log = String::from_utf8_lossy(&f.app.admin(&["audit"]).await.stdout).into_owned();
    assert!(log.lines().any(|l| l.contains("artifact.read") && l.contains("0/$CIRCLE_ARTIFACTS/junit.xml")), "{log}");

    // Without JavaScript the preview is on the page, as text: a log's markup never runs.
    let page = f
        .app
        .get_with_cookie("/gh/acme/secret/1?tab=artifacts&node=0&file=%24CIRCLE_ARTIFACTS%2Fbuild.log", &cookie)
        .await;
    let html = markup(&page.text().await.unwrap());
    assert!(html.contains("<span class=\"b f1\">FAILED</span>"), "the log with its colours");
    assert!(html.contains(">SHA-256<"), "its digest");
    let page = f
        .app
        .get_with_cookie("/gh/acme/secret/1?tab=artifacts&node=0&file=%24CIRCLE_ARTIFACTS%2Fjunit.xml", &cookie)
        .await;
    let html = markup(&page.text().await.unwrap());
    assert!(html.contains("3 tests · 1 failed · 1 skipped · 1 passed"), "the report's summary");
}

/// A site root with Playwright's trace viewer, copied from the playwright-core package that
/// scripts/setup.sh installs for the browser tests (the same files scripts/build.sh serves).
pub fn site_with_trace_viewer() -> tempfile::TempDir {
    let package = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../end2end/node_modules/playwright-core/lib/vite/traceViewer");
    assert!(package.join("index.html").is_file(), "{} is missing: run scripts/setup.sh", package.display());
    let site = tempfile::tempdir().unwrap();
    let viewer = site.path().join("trace-viewer");
    for entry in walkdir::WalkDir::new(&package) {
        let entry = entry.unwrap();
        let to = viewer.join(entry.path().strip_prefix(&package).unwrap());
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&to).unwrap();
        } else {
            std::fs::copy(entry.path(), &to).unwrap();
        }
    }
    site
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_playwright_trace_opens_in_the_trace_viewer_on_an_origin_of_its_own() {
    let site = site_with_trace_viewer();
    let root = site.path().to_path_buf();
    let f = TestApp::with_projects_configured(Default::default(), test_database().await, move |c| {
        vitrine::serve::ServeConfig { site_root: root, ..c }
    })
    .await;
    let trace = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../demo/traces/trace.zip");
    let script =
        format!(r#"cp {} "$CIRCLE_ARTIFACTS/trace.zip"; echo hi > "$CIRCLE_ARTIFACTS/other.txt""#, trace.display());
    assert_ok(&f.app.run_build(&f.private_build_token, "gh/acme/secret", "main", &script).await);
    let route = "/gh/acme/secret/1/trace/0/$CIRCLE_ARTIFACTS/trace.zip";

    assert_eq!(f.app.get(route, None).await.status().as_u16(), 404, "a private build's trace is hidden");
    let r = f.app.get(route, Some(&f.member_token)).await;
    assert_eq!(r.status().as_u16(), 302);
    let viewer = r.headers()["location"].to_str().unwrap().to_owned();
    // The viewer is trusted code beside no untrusted page: a port of its own, not the
    // artifacts origin's (where it is not served at all).
    let origin = f.app.running.trace_viewer_url.clone().expect("the trace viewer is installed");
    assert_ne!(origin, f.app.running.artifacts_url);
    let prefix = format!("{origin}/trace-viewer/index.html?trace=");
    assert!(viewer.starts_with(&prefix), "{viewer}");
    let elsewhere = format!("{}/trace-viewer/index.html", f.app.running.artifacts_url);
    assert_eq!(reqwest::get(&elsewhere).await.unwrap().status().as_u16(), 404);

    // The viewer is the package's own page, unsandboxed (it registers a service worker).
    let page = reqwest::get(&viewer).await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(page.headers().get("content-security-policy").is_none());
    let worker = reqwest::get(format!("{origin}/trace-viewer/sw.bundle.js")).await.unwrap();
    assert_eq!(worker.status().as_u16(), 200);

    // The trace itself is behind a capability for that one file, which the viewer's origin
    // may fetch.
    let trace_url = percent_encoding::percent_decode_str(&viewer[prefix.len()..]).decode_utf8().unwrap().into_owned();
    let response = reqwest::get(&trace_url).await.unwrap();
    assert_eq!(response.headers()["access-control-allow-origin"], origin.as_str());
    let bytes = response.bytes().await.unwrap();
    assert_eq!(bytes.as_ref(), std::fs::read(&trace).unwrap().as_slice());
    let beside = trace_url.replace("trace.zip", "other.txt");
    assert_eq!(reqwest::get(&beside).await.unwrap().status().as_u16(), 404, "the capability opens the trace only");

    // What is not a zip is not a trace.
    let r = f.app.get("/gh/acme/secret/1/trace/0/$CIRCLE_ARTIFACTS/other.txt", Some(&f.member_token)).await;
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.text().await.unwrap().contains("a trace is a .zip"));
}

/// The public build's gallery from `after`.
fn gallery_after(after: &str) -> GalleryImages {
    let at = GalleryRequest {
        vcs: "gh".into(),
        org: "acme".into(),
        repo: "public-site".into(),
        build_num: "1".into(),
        after: after.into(),
    };
    GalleryImages { at }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gallery_pages_through_every_image_of_a_big_build() {
    let f = TestApp::with_projects().await;
    let script = r#"mkdir -p "$CIRCLE_ARTIFACTS/shots"; cd "$CIRCLE_ARTIFACTS/shots"
        for i in $(seq 1000 2199); do echo "$i" > "$i.png"; done; echo log > ../build.log"#;
    assert_ok(&f.app.run_build(&f.public_build_token, "gh/acme/public-site", "main", script).await);
    let (_, page) = f.app.server_fn("build", None, &build_page_args("public-site", 1)).await;
    let name = |a: &Value| a["pretty_path"].as_str().unwrap().rsplit('/').next().unwrap().to_owned();
    let mut seen: Vec<String> = page["images"].as_array().unwrap().iter().map(name).collect();
    assert_eq!(seen.len(), 500, "the first page comes with the build page");
    let mut next = page["more_images"].as_str().map(str::to_owned);
    let mut pages = 1;
    while let Some(after) = next {
        let (status, more) = f.app.server_fn("gallery", None, &gallery_after(&after)).await;
        assert_eq!(status, 200, "{more}");
        seen.extend(more["images"].as_array().unwrap().iter().map(name));
        next = more["next"].as_str().map(str::to_owned);
        pages += 1;
    }
    assert_eq!(pages, 3);
    let expected: Vec<String> = (1000..2200).map(|i| format!("{i}.png")).collect();
    assert_eq!(seen, expected, "every image once, in order");

    assert_eq!(f.app.server_fn("gallery", None, &gallery_after("nonsense")).await.0, 400);
    // Without JavaScript the next page is a link.
    let html = markup(&f.app.get("/gh/acme/public-site/1?tab=gallery", None).await.text().await.unwrap());
    assert!(html.contains("Next 500 images »"), "a link to the next page");
}
