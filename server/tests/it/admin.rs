//! What an admin does for a team: list and revoke tokens by id, disable and enable a user,
//! remove a member, end a user's sessions. Every change holds on every server within the
//! few seconds the read path keeps what it looked up (`lookups::FRESH_FOR`).

use crate::common::*;

const SECRET: &str = "/api/v1.1/project/gh/acme/secret/1/artifacts";

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_list_revoke_disable_and_remove_with_effect_within_seconds() {
    let f = TestApp::with_projects().await;
    let app = &f.app;
    assert_ok(
        &app.run_build(&f.private_build_token, "gh/acme/secret", "main", "echo s > \"$CIRCLE_ARTIFACTS/s\"").await,
    );
    assert_eq!(app.get(SECRET, Some(&f.member_token)).await.status().as_u16(), 200);

    // Tokens are listed with ids, owners and when they were last used; never the token.
    let list = stdout(&app.admin(&["token", "list"]).await);
    assert!(!list.contains(&f.member_token) && !list.contains(&f.private_build_token), "{list}");
    let alice = stdout(&app.admin(&["token", "list", "alice"]).await);
    let row = alice.lines().find(|l| l.contains(" alice ")).unwrap_or_else(|| panic!("{alice}"));
    assert!(row.contains("user") && !row.ends_with("never"), "used just now: {row}");
    let id = row.split_whitespace().next().unwrap().to_owned();
    let project = stdout(&app.admin(&["token", "list", "gh/acme/secret"]).await);
    assert!(project.lines().any(|l| l.contains("build") && l.contains("gh/acme/secret")), "{project}");
    assert!(!project.contains(" alice "), "{project}");

    // Revoked by id: refused within seconds.
    app.admin(&["token", "revoke", &id]).await;
    within_fresh_for("the revoked token is refused", || async { status(app, &f.member_token).await == 401 }).await;
    let cwd = tempfile::tempdir().unwrap();
    let data = app.data_dir().to_str().unwrap();
    let mut args = vec!["admin", "--data-dir", data];
    let url = app.database_url.clone().unwrap_or_default();
    if !url.is_empty() {
        args.extend(["--database-url", url.as_str()]);
    }
    args.extend(["token", "revoke", &id]);
    let again = app.vitrine(cwd.path(), &args, &[]).await;
    assert!(!again.status.success() && stderr(&again).contains("No token with id"), "{}", stderr(&again));

    // Disabled: signed out, tokens refused, no sign-in; enabled: tokens work again.
    let token = last_line(&app.admin(&["token", "create", "alice"]).await);
    let cookie = app.sign_in("alice", "alice-password").await;
    assert_eq!(app.get_with_cookie(SECRET, &cookie).await.status().as_u16(), 200);
    app.admin(&["user", "disable", "alice"]).await;
    within_fresh_for("the disabled user's token is refused", || async { status(app, &token).await == 401 }).await;
    within_fresh_for("the disabled user's session ended", || async {
        app.get_with_cookie(SECRET, &cookie).await.status().as_u16() == 404
    })
    .await;
    let form = [("username", "alice"), ("password", "alice-password"), ("next", "")];
    let r = app.http.post(format!("{}/api/login", app.url)).form(&form).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    app.admin(&["user", "enable", "alice"]).await;
    within_fresh_for("the enabled user's token works again", || async { status(app, &token).await == 200 }).await;

    // Sessions end on demand; a member removed sees the private project no more.
    let cookie = app.sign_in("alice", "alice-password").await;
    let ended = stdout(&app.admin(&["session", "revoke", "alice"]).await);
    assert!(ended.contains("Ended 1 session"), "{ended}");
    within_fresh_for("the session ended", || async {
        app.get_with_cookie(SECRET, &cookie).await.status().as_u16() == 404
    })
    .await;
    app.admin(&["member", "remove", "gh/acme/secret", "alice"]).await;
    within_fresh_for("the removed member is refused", || async { status(app, &token).await == 404 }).await;
}

async fn status(app: &TestApp, token: &str) -> u16 {
    app.get(SECRET, Some(token)).await.status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purged_artifacts_leave_listings_within_seconds_and_the_store_within_a_sweep() {
    let uploads = UploadSettings { sweep_every: std::time::Duration::from_millis(200), ..UploadSettings::default() };
    let f = TestApp::with_projects_and(uploads).await;
    let app = &f.app;
    let leaked =
        "echo 'AWS_SECRET=hunter2' > \"$CIRCLE_ARTIFACTS/build.log\"; echo fine > \"$CIRCLE_ARTIFACTS/ok.txt\"";
    for _ in 0..2 {
        assert_ok(&app.run_build(&f.public_build_token, "gh/acme/public-site", "main", leaked).await);
    }
    let listing = |build: i64| async move {
        let (_, list) = app.get_json(&format!("/api/v1.1/project/gh/acme/public-site/{build}/artifacts"), None).await;
        list.as_array().unwrap().iter().map(|a| a["pretty_path"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
    };
    let (_, list) = app.get_json("/api/v1.1/project/gh/acme/public-site/1/artifacts", None).await;
    let log_url = list[0]["url"].as_str().unwrap().to_owned();
    assert!(log_url.ends_with("build.log"));
    let signed = app.http.get(&log_url).send().await.unwrap().headers()["location"].to_str().unwrap().to_owned();

    // One path of build 1: out of the listing within seconds; build 2 lists the same bytes, so
    // they stay.
    let out = app.admin(&["purge", "gh/acme/public-site", "1", "$CIRCLE_ARTIFACTS/build.log"]).await;
    let said = stdout(&out);
    assert!(said.contains("Removed 1 artifact") && said.contains("1 object(s) stay"), "{said}");
    within_fresh_for("build 1 lists the rest", || async { listing(1).await == ["$CIRCLE_ARTIFACTS/ok.txt"] }).await;
    within_fresh_for("the purged link leads nowhere", || async {
        app.http.get(&log_url).send().await.unwrap().status().as_u16() == 404
    })
    .await;

    // The whole project: nothing listed, and the objects leave the store.
    let said = stdout(&app.admin(&["purge", "gh/acme/public-site"]).await);
    assert!(said.contains("Removed 3 artifact") && said.contains("2 object(s) leave"), "{said}");
    within_fresh_for("build 2 lists nothing", || async { listing(2).await.is_empty() }).await;
    let mut waited = std::time::Duration::ZERO;
    let mut status = 200;
    while waited < std::time::Duration::from_secs(10) {
        status = reqwest::get(&signed).await.unwrap().status().as_u16();
        if status == 404 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        waited += std::time::Duration::from_millis(200);
    }
    assert_eq!(status, 404, "the leaked bytes are gone from the store, even through a URL handed out before");
}

/// `vitrine serve` as its own process on `data`, what it says of itself (stderr) read as it
/// comes; answered once it has said it is serving (after the first start's advice).
async fn serve_saying(data: &std::path::Path, envs: &[(&str, &str)]) -> Saying {
    use tokio::io::AsyncBufReadExt;
    let port = free_port();
    let args = [
        "serve".to_owned(),
        "--addr".to_owned(),
        format!("127.0.0.1:{port}"),
        "--embedded-s3-addr".to_owned(),
        "127.0.0.1:0".to_owned(),
        "--artifacts-addr".to_owned(),
        "127.0.0.1:0".to_owned(),
        "--trace-viewer-addr".to_owned(),
        "127.0.0.1:0".to_owned(),
        "--data-dir".to_owned(),
        data.display().to_string(),
    ];
    let mut child = tokio::process::Command::new(BIN)
        .args(args)
        .envs(envs.iter().copied())
        .env("VITRINE_LOG", "warn")
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let (mut said, mut serving) = (Vec::new(), false);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while !serving {
        let line = tokio::time::timeout_at(deadline, lines.next_line()).await.expect("vitrine serve says it serves");
        let line = line.unwrap().expect("vitrine serve ended before it said it serves");
        serving = line.starts_with("Vitrine is serving at");
        said.push(line);
    }
    Saying { child, lines, said: said.join("\n"), url: format!("http://127.0.0.1:{port}") }
}

/// A server started by [`serve_saying`], and what it said so far.
struct Saying {
    child: tokio::process::Child,
    lines: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStderr>>,
    said: String,
    url: String,
}

impl Saying {
    /// Stops the server (SIGTERM, as systemd does) and answers all it said.
    async fn stop(mut self) -> String {
        let pid = rustix::process::Pid::from_raw(self.child.id().unwrap() as i32).unwrap();
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
        while let Ok(Some(line)) = self.lines.next_line().await {
            self.said.push('\n');
            self.said.push_str(&line);
        }
        self.child.wait().await.unwrap();
        self.said
    }
}

/// A new installation says how to make its first user; in a container, the first user comes
/// from VITRINE_ADMIN_USER and VITRINE_ADMIN_PASSWORD_FILE, once, and signs in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_start_says_how_to_make_the_first_user_or_makes_it_once() {
    let data = tempfile::tempdir().unwrap();
    let said = serve_saying(&data.path().join("new"), &[]).await.stop().await;
    assert!(said.contains("No one can sign in yet"), "{said}");
    assert!(
        said.contains(&format!(
            "vitrine admin --data-dir {} user add NAME --admin --password-stdin",
            data.path().join("new").display()
        )),
        "{said}"
    );

    let secret = data.path().join("admin-password");
    std::fs::write(&secret, "first-admin-password\n").unwrap();
    let envs = [("VITRINE_ADMIN_USER", "root-admin"), ("VITRINE_ADMIN_PASSWORD_FILE", secret.to_str().unwrap())];
    let server = serve_saying(&data.path().join("container"), &envs).await;
    let url = server.url.clone();
    let sign_in = |password: &'static str| {
        let url = url.clone();
        async move {
            let form = [("username", "root-admin"), ("password", password), ("next", "")];
            let r = reqwest::Client::new().post(format!("{url}/api/login")).form(&form).send().await.unwrap();
            r.headers().get("set-cookie").is_some_and(|c| c.to_str().unwrap().starts_with("vitrine_session="))
        }
    };
    // Made before the server says it is serving (the first start's advice comes first).
    assert!(sign_in("first-admin-password").await, "the first user signs in");
    let said = server.stop().await;
    assert!(said.contains("Made the first user, root-admin"), "{said}");
    assert!(!said.contains("No one can sign in yet"), "{said}");

    // Once: a later start with another password changes nothing.
    std::fs::write(&secret, "another-password\n").unwrap();
    let said = serve_saying(&data.path().join("container"), &envs).await.stop().await;
    assert!(!said.contains("Made the first user"), "{said}");
    let server = serve_saying(&data.path().join("container"), &envs).await;
    let url2 = server.url.clone();
    let form = [("username", "root-admin"), ("password", "first-admin-password"), ("next", "")];
    let r = reqwest::Client::new().post(format!("{url2}/api/login")).form(&form).send().await.unwrap();
    assert!(r.headers().get("set-cookie").is_some(), "the first password still holds");
    server.stop().await;
}
