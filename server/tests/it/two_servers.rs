//! Two `vitrine serve` on one metadata store and one S3 store, as behind a load balancer:
//! whatever one server did, the other answers at once; a revoked token or session within
//! the few seconds the read path's lookups are kept (`lookups::FRESH_FOR`). On PostgreSQL when the suite runs on
//! it (`VITRINE_TEST_POSTGRES`); otherwise both share one SQLite file.

use std::time::Duration;

use serde_json::{Value, json};
use vitrine_wire::agent::{PROTOCOL_HEADER, PROTOCOL_VERSION};

use crate::common::*;

async fn status(http: &reqwest::Client, url: String, token: Option<&str>, cookie: Option<&str>) -> u16 {
    let mut request = http.get(url);
    if let Some(token) = token {
        request = request.header("Circle-Token", token);
    }
    if let Some(cookie) = cookie {
        request = request.header("Cookie", cookie);
    }
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_store_agree_on_everything() {
    let uploads = UploadSettings {
        url_ttl: Duration::from_secs(3),
        sweep_every: Duration::from_millis(200),
        sweep_grace: Duration::ZERO,
        ..UploadSettings::default()
    };
    let f = TestApp::with_projects_and(uploads.clone()).await;
    let (a, http) = (&f.app, &f.app.http);
    let (_data, b) = a.beside(None, uploads).await;
    let (a_url, b_url) = (a.url.clone(), b.public_url.clone());
    assert_ne!(a_url, b_url);

    // Builds started on both at once get numbers no other build has.
    let starts = (0..16).map(|i| {
        let url = if i % 2 == 0 { &a_url } else { &b_url };
        http.post(format!("{url}/api/agent/projects/gh/acme/secret/builds"))
            .header("Circle-Token", &f.private_build_token)
            .header(PROTOCOL_HEADER, PROTOCOL_VERSION.to_string())
            .json(&json!({"branch": "main"}))
            .send()
    });
    let mut numbers = Vec::new();
    for r in futures::future::join_all(starts).await {
        let r = r.unwrap();
        assert_eq!(r.status().as_u16(), 200);
        numbers.push(r.json::<Value>().await.unwrap()["build_num"].as_i64().unwrap());
    }
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=16).collect::<Vec<_>>());

    // An upload through one is listed and served by the other at once.
    let script = r#"
        mkdir -p "$CIRCLE_ARTIFACTS/report"
        echo '<a href="two.html">two</a>' > "$CIRCLE_ARTIFACTS/report/index.html"
        echo 'two' > "$CIRCLE_ARTIFACTS/report/two.html"
    "#;
    assert_ok(&a.run_build(&f.private_build_token, "gh/acme/secret", "main", script).await);
    let listing = format!("{b_url}/api/v1.1/project/gh/acme/secret/17/artifacts");
    let (_, list) = {
        let r = http.get(&listing).header("Circle-Token", &f.member_token).send().await.unwrap();
        (r.status().as_u16(), r.json::<Value>().await.unwrap())
    };
    assert_eq!(list.as_array().map(Vec::len), Some(2), "{list}");
    let two = list.as_array().unwrap().iter().find(|x| x["pretty_path"].as_str().unwrap().ends_with("two.html"));
    let route = two.unwrap()["url"].as_str().unwrap().to_owned();
    assert!(route.starts_with(&b_url), "{route}");

    // A capability handed out by one server opens on the other's artifacts origin.
    let r = http.get(&route).header("Circle-Token", &f.member_token).header("Sec-Fetch-Mode", "navigate");
    let r = r.send().await.unwrap();
    assert_eq!(r.status().as_u16(), 302);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(&b.artifacts_url), "{location}");
    let on_a = location.replacen(&b.artifacts_url, &a.running.artifacts_url, 1);
    assert_ne!(on_a, location);
    let page = reqwest::get(&on_a).await.unwrap();
    assert_eq!(page.status().as_u16(), 200, "{on_a}");
    assert_eq!(page.text().await.unwrap(), "two\n");

    // A session made on one works on the other, and ends on both.
    let form = [("username", "alice"), ("password", "alice-password"), ("next", "")];
    let r = http.post(format!("{a_url}/api/login")).form(&form).send().await.unwrap();
    let cookie = r.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    assert_eq!(status(http, listing.clone(), None, Some(&cookie)).await, 200);
    assert_eq!(status(http, format!("{b_url}/gh/acme/secret/17"), None, Some(&cookie)).await, 200);
    http.post(format!("{b_url}/logout")).header("Cookie", &cookie).send().await.unwrap();
    let on_a_listing = format!("{a_url}/api/v1.1/project/gh/acme/secret/17/artifacts");
    assert_eq!(status(http, listing.clone(), None, Some(&cookie)).await, 404, "signed out where it was ended");
    within_fresh_for("signed out on the other server too", || async {
        status(http, on_a_listing.clone(), None, Some(&cookie)).await == 404
    })
    .await;

    // A token works on both; revoked, it works on neither within seconds.
    let token = last_line(&a.admin(&["token", "create", "alice"]).await);
    assert_eq!(status(http, listing.clone(), Some(&token), None).await, 200);
    assert_eq!(status(http, on_a_listing.clone(), Some(&token), None).await, 200);
    a.admin(&["token", "revoke", &token]).await;
    within_fresh_for("the revoked token is refused on both servers", || async {
        status(http, listing.clone(), Some(&token), None).await == 401
            && status(http, on_a_listing.clone(), Some(&token), None).await == 401
    })
    .await;

    // Failed sign-ins count on both: ten on the two together lock the account on either.
    for i in 0..10 {
        let url = if i % 2 == 0 { &a_url } else { &b_url };
        let form = [("username", "bob"), ("password", "guess"), ("next", "")];
        let r = http.post(format!("{url}/api/login")).form(&form).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 401);
    }
    for url in [&a_url, &b_url] {
        let form = [("username", "bob"), ("password", "bob-password"), ("next", "")];
        let r = http.post(format!("{url}/api/login")).form(&form).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 429, "{url}");
    }

    // Both sweep; an upload planned on one and never sent is removed once, by one of them.
    let db = a.db().await;
    let plan =
        json!({"node_index": 0, "files": [{"path": "x", "pretty_path": "x", "size": 1, "sha256": "0".repeat(64)}]});
    let r = http
        .post(format!("{b_url}/api/agent/projects/gh/acme/secret/builds/1/uploads"))
        .header("Circle-Token", &f.private_build_token)
        .header(PROTOCOL_HEADER, PROTOCOL_VERSION.to_string())
        .json(&plan)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());
    assert_eq!(db.pending_upload_count().await.unwrap(), 1);
    let mut waited = Duration::ZERO;
    while db.pending_upload_count().await.unwrap() > 0 && waited < Duration::from_secs(15) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        waited += Duration::from_millis(200);
    }
    assert_eq!(db.pending_upload_count().await.unwrap(), 0, "the abandoned upload was swept");
}
