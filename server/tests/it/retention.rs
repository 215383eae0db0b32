//! Retention: artifacts older than their project's retention leave listings and the store,
//! by the sweeper, with the clock moved forward; the latest successful build of each branch
//! and pinned builds keep theirs, and expired builds say so.

use serde_json::Value;

use crate::common::*;

const DAY: i64 = 86400;

async fn build(f: &Fixture, token: &str, project: &str, branch: &str, n: u32, ok: bool) {
    let script = format!("echo 'content of build {n}' > \"$CIRCLE_ARTIFACTS/out-{n}.txt\"; exit {}", u8::from(!ok));
    let out = f.app.run_build(token, project, branch, &script).await;
    assert_eq!(out.status.success(), ok, "{}", stderr(&out));
}

async fn listing(f: &Fixture, project: &str, num: u32) -> Vec<Value> {
    let (status, list) =
        f.app.get_json(&format!("/api/v1.1/project/{project}/{num}/artifacts"), Some(&f.member_token)).await;
    assert_eq!(status, 200, "{list}");
    list.as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_artifacts_expire_but_latest_green_builds_and_pinned_ones_stay() {
    let f = TestApp::with_projects().await;
    let secret = "gh/acme/secret";
    let t = f.private_build_token.clone();
    build(&f, &t, secret, "main", 1, true).await;
    build(&f, &t, secret, "main", 2, false).await;
    build(&f, &t, secret, "main", 3, true).await;
    build(&f, &t, secret, "feature", 4, true).await;
    build(&f, &t, secret, "main", 5, false).await;

    // A member pins build 5 from its page (the server function its Pin button posts to).
    let cookie = f.app.sign_in("alice", "alice-password").await;
    let pin = [("vcs", "gh"), ("org", "acme"), ("repo", "secret"), ("build_num", "5"), ("pin", "true")];
    let r = f.app.http.post(format!("{}/api/pin", f.app.url)).header("Cookie", &cookie).form(&pin).send().await;
    assert_eq!(r.unwrap().status().as_u16(), 200);
    let page = f.app.get_with_cookie("/gh/acme/secret/5", &cookie).await.text().await.unwrap();
    assert!(page.contains("Pinned") && page.contains("Unpin"), "the page shows the pin");

    // A signed URL of build 1's bytes, taken before the clock moves.
    let one = format!("{}/api/v1.1/project/{secret}/1/artifacts/0/$CIRCLE_ARTIFACTS/out-1.txt", f.app.url);
    let (_, bytes) = f.app.download(&one, Some(&f.member_token)).await;
    assert_eq!(bytes, b"content of build 1\n");
    let r = f.app.http.get(&one).header("Circle-Token", &f.member_token).send().await.unwrap();
    let stored = r.headers()["location"].to_str().unwrap().to_owned();

    let vitrine = &f.app.running.vitrine;
    let now = chrono::Utc::now().timestamp();
    let swept = vitrine.sweeper().sweep_at(now + 29 * DAY).await.unwrap();
    assert_eq!(swept.expired_builds, 0, "nothing is older than 30 days yet");

    let swept = vitrine.sweeper().sweep_at(now + 31 * DAY).await.unwrap();
    assert_eq!(swept.expired_builds, 2, "{swept:?}");
    assert!(swept.purged_objects >= 2, "{swept:?}");
    for (num, kept) in [(1, false), (2, false), (3, true), (4, true), (5, true)] {
        assert_eq!(listing(&f, secret, num).await.len(), usize::from(kept), "build {num}");
    }
    assert_eq!(reqwest::get(&stored).await.unwrap().status().as_u16(), 404, "the object left the store");
    let route = format!("/api/v1.1/project/{secret}/1/artifacts/0/$CIRCLE_ARTIFACTS/out-1.txt");
    assert_eq!(f.app.get(&route, Some(&f.member_token)).await.status().as_u16(), 404);
    // The build stays, and says where its artifacts went.
    let (status, build_one) = f.app.get_json(&format!("/api/v1.1/project/{secret}/1"), Some(&f.member_token)).await;
    assert_eq!((status, build_one["status"].as_str()), (200, Some("success")));
    let page = f.app.get_with_cookie("/gh/acme/secret/1", &cookie).await.text().await.unwrap();
    assert!(page.contains("Artifacts expired on"), "the page says so");
    // `latest` still finds the newest green build of main, with its artifacts.
    let (_, latest) = f
        .app
        .get_json(
            &format!("/api/v1.1/project/{secret}/latest/artifacts?branch=main&filter=successful"),
            Some(&f.member_token),
        )
        .await;
    assert_eq!(latest.as_array().map(Vec::len), Some(1), "{latest}");

    // Unpinned, build 5 goes at the next sweep; a sweep again changes nothing more.
    f.app.admin(&["build", "unpin", secret, "5"]).await;
    let swept = vitrine.sweeper().sweep_at(now + 31 * DAY).await.unwrap();
    assert_eq!(swept.expired_builds, 1, "{swept:?}");
    assert!(listing(&f, secret, 5).await.is_empty());
    assert_eq!(vitrine.sweeper().sweep_at(now + 31 * DAY).await.unwrap().expired_builds, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_keeps_artifacts_as_long_as_it_says() {
    let f = TestApp::with_projects().await;
    let site = "gh/acme/public-site";
    let t = f.public_build_token.clone();
    build(&f, &t, site, "main", 1, true).await;
    build(&f, &t, site, "main", 2, true).await;
    let out = f.app.admin(&["project", "retention", site, "90d"]).await;
    assert!(String::from_utf8_lossy(&out.stdout).contains("90 day(s)"));

    let vitrine = &f.app.running.vitrine;
    let now = chrono::Utc::now().timestamp();
    assert_eq!(vitrine.sweeper().sweep_at(now + 31 * DAY).await.unwrap().expired_builds, 0, "kept 90 days");
    // While another server sweeps (it holds the lock), a sweep asked for waits for it to end
    // rather than answer that nothing was due.
    let other_server = vitrine_store::Db::open(f.app.data_dir(), f.app.database_url.as_deref(), 2).await.unwrap();
    let mut elsewhere = None;
    for _ in 0..500 {
        elsewhere = other_server.try_lock_sweeper().await.unwrap();
        if elsewhere.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await; // the server's own sweep
    }
    assert!(elsewhere.is_some(), "the sweeper lock is free within 10 s");
    let asked = tokio::spawn({
        let vitrine = vitrine.clone();
        async move { vitrine.sweeper().sweep_at(now + 91 * DAY).await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    if other_server.kind() == vitrine_store::StoreKind::Postgres {
        assert!(!asked.is_finished(), "the sweep asked for waits for the lock");
    }
    drop(elsewhere);
    assert_eq!(asked.await.unwrap().unwrap().expired_builds, 1);
    assert!(listing(&f, site, 1).await.is_empty());
    assert_eq!(listing(&f, site, 2).await.len(), 1, "the latest green build of main stays");

    // Retention under a day is refused, in words.
    let out = f
        .app
        .vitrine(
            f.app.data_dir(),
            &["admin", "--data-dir", f.app.data_dir().to_str().unwrap(), "project", "retention", site, "2h"],
            &[],
        )
        .await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("a day (1d) or longer"), "{}", stderr(&out));
}
