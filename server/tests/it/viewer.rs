//! The build page's data path: a folder of one container a page at a time, from ranges of the
//! index, and a filter answered by the server; never a whole build's rows.

use serde_json::Value;

use crate::common::*;

/// The Artifacts tab's server function, as the page calls it.
async fn browse(f: &Fixture, cookie: Option<&str>, node: i64, folder: &str, filter: &str, after: &str) -> (u16, Value) {
    let form = [
        ("at[vcs]", "gh"),
        ("at[org]", "acme"),
        ("at[repo]", "secret"),
        ("at[build_num]", "1"),
        ("at[node]", &node.to_string()),
        ("at[folder]", folder),
        ("at[filter]", filter),
        ("at[after]", after),
    ];
    let mut req = f.app.http.post(format!("{}/api/browse", f.app.url)).form(&form);
    if let Some(cookie) = cookie {
        req = req.header("Cookie", cookie);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

fn names(page: &Value) -> Vec<String> {
    page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| match (&e["Folder"], &e["File"]) {
            (Value::Object(d), _) => format!("{}/ {}", d["name"].as_str().unwrap(), d["count"]),
            (_, Value::Object(a)) => a["pretty_path"].as_str().unwrap().rsplit('/').next().unwrap().to_owned(),
            _ => panic!("an entry is a folder or a file: {e}"),
        })
        .collect()
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
    let html = page.text().await.unwrap();
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
