//! What an admin does for a team: list and revoke tokens by id, disable and enable a user,
//! remove a member, end a user's sessions. Every change holds at once, on the next request.

use crate::common::*;

const SECRET: &str = "/api/v1.1/project/gh/acme/secret/1/artifacts";

async fn sign_in(app: &TestApp, user: &str, password: &str) -> String {
    let form = [("username", user), ("password", password), ("next", "")];
    let r = app.http.post(format!("{}/api/login", app.url)).form(&form).send().await.unwrap();
    r.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned()
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn admins_list_revoke_disable_and_remove_with_effect_at_once() {
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

    // Revoked by id: refused on the very next request.
    app.admin(&["token", "revoke", &id]).await;
    assert_eq!(app.get(SECRET, Some(&f.member_token)).await.status().as_u16(), 401);
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
    let cookie = sign_in(app, "alice", "alice-password").await;
    assert_eq!(app.get_with_cookie(SECRET, &cookie).await.status().as_u16(), 200);
    app.admin(&["user", "disable", "alice"]).await;
    assert_eq!(app.get(SECRET, Some(&token)).await.status().as_u16(), 401);
    assert_eq!(app.get_with_cookie(SECRET, &cookie).await.status().as_u16(), 404, "the session ended");
    let form = [("username", "alice"), ("password", "alice-password"), ("next", "")];
    let r = app.http.post(format!("{}/api/login", app.url)).form(&form).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    app.admin(&["user", "enable", "alice"]).await;
    assert_eq!(app.get(SECRET, Some(&token)).await.status().as_u16(), 200);

    // Sessions end on demand; a member removed sees the private project no more.
    let cookie = sign_in(app, "alice", "alice-password").await;
    let ended = stdout(&app.admin(&["session", "revoke", "alice"]).await);
    assert!(ended.contains("Ended 1 session"), "{ended}");
    assert_eq!(app.get_with_cookie(SECRET, &cookie).await.status().as_u16(), 404);
    app.admin(&["member", "remove", "gh/acme/secret", "alice"]).await;
    assert_eq!(app.get(SECRET, Some(&token)).await.status().as_u16(), 404);
}
