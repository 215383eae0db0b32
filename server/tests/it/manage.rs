//! Roles, and what people change from the browser: project settings (maintainers), their
//! account (everyone signed in), the admin pages (instance admins). Each form is posted as a
//! browser posts it without JavaScript; what it changed is checked through the API, the agent
//! and the audit log, and each refusal by its status and its words.

use serde_json::json;

use crate::common::*;

/// A form posted with a session cookie, as from the page itself: the status, where it
/// redirects, and the page it answers.
async fn post(app: &TestApp, path: &str, cookie: &str, form: &[(&str, &str)]) -> (u16, String, String) {
    let r = app
        .http
        .post(format!("{}{path}", app.url))
        .header("Cookie", cookie)
        .header("Origin", app.url.clone())
        .header("Sec-Fetch-Site", "same-origin")
        .form(form)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let location = r.headers().get("location").map(|l| l.to_str().unwrap().to_owned()).unwrap_or_default();
    (status, location, r.text().await.unwrap())
}

/// What the sign-in form answers to these credentials.
async fn sign_in_status(app: &TestApp, username: &str, password: &str) -> u16 {
    let form = [("username", username), ("password", password), ("next", "")];
    app.http.post(format!("{}/api/login", app.url)).form(&form).send().await.unwrap().status().as_u16()
}

/// The token a page shows once, in its copy button.
fn shown_token(html: &str) -> String {
    html.split("data-copy=\"")
        .filter_map(|rest| rest.split('"').next())
        .find(|t| t.len() == 40 && t.chars().all(|c| c.is_ascii_hexdigit()))
        .unwrap_or_else(|| panic!("no token shown in {html}"))
        .to_owned()
}

/// `vitrine admin ARGS` that must fail: what it said.
async fn admin_refused(app: &TestApp, args: &[&str]) -> String {
    let cwd = tempfile::tempdir().unwrap();
    let data = app.data_dir().to_str().unwrap().to_owned();
    let url = app.database_url.clone().unwrap_or_default();
    let mut all = vec!["admin", "--data-dir", data.as_str()];
    if !url.is_empty() {
        all.extend(["--database-url", url.as_str()]);
    }
    all.extend(args);
    let out = app.vitrine(cwd.path(), &all, &[]).await;
    assert!(!out.status.success(), "vitrine admin {args:?} did not fail");
    stderr(&out)
}

/// The audit log as `admin audit` prints it, once the server has written what it holds.
async fn audit(app: &TestApp, args: &[&str]) -> String {
    app.running.vitrine.audit().flush().await;
    String::from_utf8_lossy(&app.admin(&[&["audit"], args].concat()).await.stdout).into_owned()
}

async fn page(app: &TestApp, path: &str, cookie: &str) -> (u16, String) {
    let r = app.get_with_cookie(path, cookie).await;
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The fixture, with carol a maintainer of gh/acme/secret (alice stays a member) and root an
/// instance admin; their sessions.
async fn team() -> (Fixture, String, String, String) {
    let f = TestApp::with_projects().await;
    let app = &f.app;
    assert_ok(&app.admin_stdin(&["user", "add", "carol", "--password-stdin"], "carol-password\n").await);
    let added = app.admin(&["member", "add", "gh/acme/secret", "carol", "--role", "maintainer"]).await;
    assert!(String::from_utf8_lossy(&added.stdout).contains("change its settings"), "{}", stderr(&added));
    assert_ok(&app.admin_stdin(&["user", "add", "root", "--admin", "--password-stdin"], "root-password\n").await);
    let carol = app.sign_in("carol", "carol-password").await;
    let alice = app.sign_in("alice", "alice-password").await;
    let root = app.sign_in("root", "root-password").await;
    (f, carol, alice, root)
}

#[tokio::test]
async fn settings_are_for_maintainers_and_admins_only() {
    let (f, carol, alice, root) = team().await;
    let app = &f.app;
    let (status, html) = page(app, "/gh/acme/secret/settings", &carol).await;
    assert_eq!(status, 200, "{html}");
    for section in ["Store builds", "Members", "Build tokens", "Visibility", "Retention", "Default branch", "Purge"] {
        assert!(html.contains(section), "the settings page has no {section} section");
    }
    assert!(html.contains("--project gh/acme/secret"), "the agent line names the project");
    // A member reads the project but has no settings: the same 404 as a hidden project.
    assert_eq!(page(app, "/gh/acme/secret/settings", &alice).await.0, 404);
    assert_eq!(page(app, "/gh/acme/nothing/settings", &carol).await.0, 404);
    // An instance admin maintains every project, member or not.
    assert_eq!(page(app, "/gh/acme/public-site/settings", &root).await.0, 200);
    assert_eq!(page(app, "/gh/acme/public-site/settings", &carol).await.0, 404);
    // Signed out: asked to sign in, and brought back.
    let r = app.get("/gh/acme/secret/settings", None).await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/login?next=%2Fgh%2Facme%2Fsecret%2Fsettings");
    // A post from another site is refused before anything changes.
    let r = app
        .http
        .post(format!("{}/gh/acme/secret/settings", app.url))
        .header("Cookie", &carol)
        .header("Origin", "http://evil.example")
        .form(&[("do", "visibility"), ("visibility", "public")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(app.get("/api/v1.1/project/github/acme/secret", None).await.status(), 404, "still private");
    // A member's post changes nothing either.
    let (status, _, _) =
        post(app, "/gh/acme/secret/settings", &alice, &[("do", "visibility"), ("visibility", "public")]).await;
    assert_eq!(status, 404);
    // A maintainer's makes the project public, and the API says so at once on this server.
    let (status, location, _) =
        post(app, "/gh/acme/secret/settings", &carol, &[("do", "visibility"), ("visibility", "public")]).await;
    assert_eq!((status, location.as_str()), (303, "/gh/acme/secret/settings?done=visibility#visibility"));
    let (_, html) = page(app, &location, &carol).await;
    assert!(html.contains("Visibility saved."), "{html}");
    assert_eq!(app.get("/api/v1.1/project/github/acme/secret", None).await.status(), 200);
}

#[tokio::test]
async fn maintainers_manage_members_and_bad_input_is_answered_in_words() {
    let (f, carol, alice, _root) = team().await;
    let app = &f.app;
    let settings = "/gh/acme/secret/settings";
    let add = |name: &'static str, role: &'static str| [("do", "add-member"), ("username", name), ("role", role)];
    // bob is not a member: he cannot read the private project.
    assert_eq!(app.get("/api/v1.1/project/github/acme/secret", Some(&f.outsider_token)).await.status(), 404);
    let (status, location, _) = post(app, settings, &carol, &add("bob", "member")).await;
    assert_eq!((status, location.as_str()), (303, "/gh/acme/secret/settings?done=member-added#members"));
    assert_eq!(app.get("/api/v1.1/project/github/acme/secret", Some(&f.outsider_token)).await.status(), 200);
    // Again: a duplicate is refused, with what to do instead.
    let (status, _, html) = post(app, settings, &carol, &add("bob", "maintainer")).await;
    assert_eq!(status, 409);
    assert!(html.contains("bob is already a member of gh/acme/secret"), "{html}");
    let (status, _, html) = post(app, settings, &carol, &add("nobody", "member")).await;
    assert_eq!(status, 404);
    assert!(html.contains("No user named `nobody`"), "{html}");
    let (status, _, html) = post(app, settings, &carol, &add("bob", "owner")).await;
    assert_eq!(status, 400);
    assert!(html.contains("`owner` is not a role"), "{html}");
    // bob becomes a maintainer: he gets the settings.
    let role = [("do", "set-role"), ("username", "bob"), ("role", "maintainer")];
    assert_eq!(post(app, settings, &carol, &role).await.0, 303);
    let bob = app.sign_in("bob", "bob-password").await;
    assert_eq!(page(app, settings, &bob).await.0, 200);
    // The last maintainer by hand cannot leave: bob steps down, then carol may not.
    let down = [("do", "set-role"), ("username", "bob"), ("role", "member")];
    assert_eq!(post(app, settings, &bob, &down).await.0, 303);
    let (status, _, html) = post(app, settings, &carol, &[("do", "remove-member"), ("username", "carol")]).await;
    assert_eq!(status, 409);
    assert!(html.contains("the last maintainer of gh/acme/secret"), "{html}");
    // Removing alice takes her out at once on this server.
    assert_eq!(post(app, settings, &carol, &[("do", "remove-member"), ("username", "alice")]).await.0, 303);
    assert_eq!(app.get("/api/v1.1/project/github/acme/secret", Some(&f.member_token)).await.status(), 404);
    assert_eq!(page(app, "/gh/acme/secret", &alice).await.0, 404);
    // Retention under a day, a branch of control characters, a build that is not a number.
    let (status, _, html) = post(app, settings, &carol, &[("do", "retention"), ("retention", "12h")]).await;
    assert_eq!(status, 400);
    assert!(html.contains("Keep artifacts a day (1d) or longer"), "{html}");
    let (status, _, html) = post(app, settings, &carol, &[("do", "retention"), ("retention", "soon")]).await;
    assert_eq!(status, 400);
    assert!(html.contains("`soon` is not a duration"), "{html}");
    assert_eq!(post(app, settings, &carol, &[("do", "retention"), ("retention", "90d")]).await.0, 303);
    assert!(page(app, settings, &carol).await.1.contains("90 days (this project"));
    let (status, _, html) = post(app, settings, &carol, &[("do", "purge"), ("build", "x"), ("path", "")]).await;
    assert_eq!(status, 400);
    assert!(html.contains("`x` is not a build number"), "{html}");
    // Every change is in the audit log, by whom and from where.
    let audit = audit(app, &["--project", "gh/acme/secret"]).await;
    for line in ["member.add", "member.role", "member.remove", "project.retention"] {
        assert!(audit.contains(line), "no {line} in\n{audit}");
    }
    assert!(
        audit.contains("carol (session)") && audit.contains("bob as member") && audit.contains("127.0.0.1"),
        "{audit}"
    );
}

#[tokio::test]
async fn build_tokens_are_shown_once_work_and_stop_when_revoked() {
    let (f, carol, _alice, _root) = team().await;
    let app = &f.app;
    let settings = "/gh/acme/secret/settings";
    let (status, _, html) = post(app, settings, &carol, &[("do", "create-token"), ("label", "runners")]).await;
    assert_eq!(status, 200);
    let token = shown_token(&html);
    // Once: the page never shows it again.
    assert!(!page(app, settings, &carol).await.1.contains(token.as_str()));
    assert!(page(app, settings, &carol).await.1.contains("runners"));
    let (status, _) =
        agent_call(&f, &token, "/api/agent/projects/gh/acme/secret/builds", json!({"branch": "main"})).await;
    assert_eq!(status, 200);
    // Its id, from the list, revokes it.
    let tokens = app.admin(&["token", "list", "gh/acme/secret"]).await;
    let listed = String::from_utf8_lossy(&tokens.stdout).into_owned();
    // `ID KIND OWNER ...`: the newest build token is the one just made (running builds' own
    // tokens are of the kind `running`).
    let ids: Vec<&str> = listed
        .lines()
        .skip(1)
        .filter_map(|l| {
            let mut columns = l.split_whitespace();
            let id = columns.next()?;
            (columns.next() == Some("build")).then_some(id)
        })
        .collect();
    let id = ids.last().unwrap().to_string();
    assert_eq!(post(app, settings, &carol, &[("do", "revoke-token"), ("id", &id)]).await.0, 303);
    let (status, _) =
        agent_call(&f, &token, "/api/agent/projects/gh/acme/secret/builds", json!({"branch": "main"})).await;
    assert_eq!(status, 401);
    // Another project's token cannot be revoked from here.
    let public = app.admin(&["token", "list", "gh/acme/public-site"]).await;
    let public_id =
        String::from_utf8_lossy(&public.stdout).lines().nth(1).unwrap().split_whitespace().next().unwrap().to_owned();
    assert_eq!(post(app, settings, &carol, &[("do", "revoke-token"), ("id", &public_id)]).await.0, 404);
    let (status, _) = agent_call(
        &f,
        &f.public_build_token,
        "/api/agent/projects/gh/acme/public-site/builds",
        json!({"branch": "main"}),
    )
    .await;
    assert_eq!(status, 200, "the other project's token still works");
}

#[tokio::test]
async fn a_purge_names_what_goes_and_waits_for_the_confirmation() {
    let (f, carol, _alice, _root) = team().await;
    let app = &f.app;
    let script = r#"echo secret > "$CIRCLE_ARTIFACTS/leak.log"; echo fine > "$CIRCLE_ARTIFACTS/ok.log""#;
    assert_ok(&app.run_build(&f.private_build_token, "gh/acme/secret", "main", script).await);
    let settings = "/gh/acme/secret/settings";
    let path = "$CIRCLE_ARTIFACTS/leak.log";
    let (status, _, html) = post(app, settings, &carol, &[("do", "purge"), ("build", "1"), ("path", path)]).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("This removes the artifact `$CIRCLE_ARTIFACTS/leak.log` of build #1 of gh/acme/secret"),
        "{html}"
    );
    let listed = || async {
        let (_, artifacts) =
            app.get_json("/api/v1.1/project/github/acme/secret/1/artifacts", Some(&f.member_token)).await;
        artifacts.as_array().unwrap().iter().map(|a| a["path"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
    };
    assert_eq!(listed().await.len(), 2, "nothing goes before the confirmation");
    let (status, _, html) = post(app, settings, &carol, &[("do", "purge"), ("build", "7"), ("path", "")]).await;
    assert_eq!(status, 404, "{html}");
    let confirm = [("do", "confirm-purge"), ("build", "1"), ("path", path)];
    assert_eq!(post(app, settings, &carol, &confirm).await.0, 303);
    let left = listed().await;
    assert_eq!(left.len(), 1);
    assert!(left[0].ends_with("ok.log"), "{left:?}");
    let again = post(app, settings, &carol, &confirm).await;
    assert_eq!(again.0, 404, "an artifact that is not there is named: {}", again.2);
}

#[tokio::test]
async fn people_keep_their_own_tokens_sessions_and_password() {
    let (f, _carol, alice, _root) = team().await;
    let app = &f.app;
    let second = app.sign_in("alice", "alice-password").await;
    let (status, html) = page(app, "/account", &alice).await;
    assert_eq!(status, 200);
    assert!(html.contains("Signed in as") && html.contains("(this session)"), "{html}");
    // A read token for 30 days.
    let form = [("do", "create-token"), ("label", "dashboard"), ("scope", "read"), ("expires", "30")];
    let (status, _, html) = post(app, "/account", &alice, &form).await;
    assert_eq!(status, 200);
    assert!(html.contains("New API token") && html.contains("It expires"), "{html}");
    let token = shown_token(&html);
    let (status, me) = app.get_json("/api/v1.1/me", Some(&token)).await;
    assert_eq!((status, me["login"].as_str()), (200, Some("alice")));
    // A read token cannot change anything, even what its owner may.
    let r = app
        .http
        .post(format!("{}/account", app.url))
        .header("Circle-Token", &token)
        .form(&[("do", "sign-out-others")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // Bad choices are named.
    let (status, _, html) =
        post(app, "/account", &alice, &[("do", "create-token"), ("scope", "root"), ("expires", "30")]).await;
    assert_eq!(status, 400);
    assert!(html.contains("Choose a scope"), "{html}");
    // Signing out the others ends the second session, not this one.
    assert_eq!(post(app, "/account", &alice, &[("do", "sign-out-others")]).await.0, 303);
    within_fresh_for("the other session ends", || async { page(app, "/account", &second).await.0 == 303 }).await;
    assert_eq!(page(app, "/account", &alice).await.0, 200);
    // The password: the current one is asked for, the new one checked.
    let change = |current: &'static str, new: &'static str, repeat: &'static str| {
        [("do", "password"), ("current", current), ("new", new), ("repeat", repeat)]
    };
    let (status, _, html) = post(app, "/account", &alice, &change("wrong", "new-password-1", "new-password-1")).await;
    assert_eq!(status, 400);
    assert!(html.contains("The current password is not right"), "{html}");
    let (status, _, html) = post(app, "/account", &alice, &change("alice-password", "short", "short")).await;
    assert_eq!(status, 400);
    assert!(html.contains("at least 8 characters"), "{html}");
    assert_eq!(
        post(app, "/account", &alice, &change("alice-password", "new-password-1", "new-password-1")).await.0,
        303
    );
    assert_eq!(sign_in_status(app, "alice", "alice-password").await, 401, "the old password no longer signs in");
    app.sign_in("alice", "new-password-1").await;
    // Revoking the token stops it.
    let tokens = app.admin(&["token", "list", "alice"]).await;
    let id =
        String::from_utf8_lossy(&tokens.stdout).lines().last().unwrap().split_whitespace().next().unwrap().to_owned();
    assert_eq!(post(app, "/account", &alice, &[("do", "revoke-token"), ("id", &id)]).await.0, 303);
    assert_eq!(app.get("/api/v1.1/me", Some(&token)).await.status(), 401);
    // Signed out, the account page asks to sign in.
    let r = app.get("/account", None).await;
    assert_eq!((r.status().as_u16(), r.headers()["location"].to_str().unwrap()), (303, "/login?next=%2Faccount"));
}

#[tokio::test]
async fn a_token_past_its_end_is_refused_with_the_reason() {
    let f = TestApp::with_projects().await;
    let app = &f.app;
    let made = app.admin(&["token", "create", "alice", "--expires-in", "2s", "--label", "short"]).await;
    assert_ok(&made);
    let token = last_line(&made);
    assert_eq!(app.get("/api/v1.1/me", Some(&token)).await.status(), 200);
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let r = app.get("/api/v1.1/me", Some(&token)).await;
    assert_eq!(r.status(), 401);
    let body = r.text().await.unwrap();
    assert!(body.contains("This token expired on"), "{body}");
}

#[tokio::test]
async fn admins_manage_users_and_projects_and_no_one_else_sees_how() {
    let (f, carol, alice, root) = team().await;
    let app = &f.app;
    assert_eq!(page(app, "/admin", &alice).await.0, 404);
    assert_eq!(page(app, "/admin", &carol).await.0, 404);
    assert_eq!(app.get("/admin", Some(&f.member_token)).await.status(), 404);
    let (status, html) = page(app, "/admin", &root).await;
    assert_eq!(status, 200);
    assert!(html.contains("gh/acme/secret") && html.contains("alice"), "{html}");
    assert_eq!(post(app, "/admin", &alice, &[("do", "promote"), ("username", "alice")]).await.0, 404);
    let add = [("do", "add-user"), ("username", "dave"), ("password", "dave-password"), ("repeat", "dave-password")];
    assert_eq!(post(app, "/admin", &root, &add).await.0, 303);
    let (status, _, html) = post(app, "/admin", &root, &add).await;
    assert_eq!(status, 409);
    assert!(html.contains("User `dave` already exists"), "{html}");
    app.sign_in("dave", "dave-password").await;
    assert_eq!(post(app, "/admin", &root, &[("do", "promote"), ("username", "dave")]).await.0, 303);
    let dave = app.sign_in("dave", "dave-password").await;
    assert_eq!(page(app, "/admin", &dave).await.0, 200);
    assert_eq!(page(app, "/gh/acme/secret", &dave).await.0, 200, "an admin sees every project");
    // The last admin stays one; with dave there, root may step down.
    assert_eq!(post(app, "/admin", &dave, &[("do", "disable"), ("username", "root")]).await.0, 303);
    let (status, _, html) = post(app, "/admin", &dave, &[("do", "demote"), ("username", "dave")]).await;
    assert_eq!(status, 409);
    assert!(html.contains("dave is the last admin"), "{html}");
    let slug = [("do", "add-project"), ("slug", "gh/acme/new-thing"), ("public", "on")];
    assert_eq!(post(app, "/admin", &dave, &slug).await.0, 303);
    assert_eq!(app.get("/api/v1.1/project/github/acme/new-thing", None).await.status(), 200);
    let (status, _, html) = post(app, "/admin", &dave, &[("do", "add-project"), ("slug", "acme")]).await;
    assert_eq!(status, 400);
    assert!(html.contains("`acme` is not a project"), "{html}");
    let audit = audit(app, &[]).await;
    for line in ["user.add", "user.promote", "user.disable", "project.add", "admin.user.add"] {
        assert!(audit.contains(line), "no {line} in\n{audit}");
    }
}

#[tokio::test]
async fn admin_commands_grant_roles_and_keep_the_last_admin() {
    let f = TestApp::with_projects().await;
    let app = &f.app;
    assert_ok(&app.admin(&["user", "promote", "alice"]).await);
    let said = admin_refused(app, &["user", "demote", "alice"]).await;
    assert!(said.contains("alice is the last admin"), "{said}");
    assert_ok(&app.admin(&["user", "promote", "bob"]).await);
    assert_ok(&app.admin(&["user", "demote", "alice"]).await);
    let said = admin_refused(app, &["member", "add", "gh/acme/secret", "bob", "--role", "owner"]).await;
    assert!(said.contains("is not a role"), "{said}");
    // Re-running member add sets the role; remove takes it back.
    assert_ok(&app.admin(&["member", "add", "gh/acme/secret", "alice", "--role", "maintainer"]).await);
    let alice = app.sign_in("alice", "alice-password").await;
    assert_eq!(page(app, "/gh/acme/secret/settings", &alice).await.0, 200);
    assert_ok(&app.admin(&["member", "add", "gh/acme/secret", "alice"]).await);
    within_fresh_for("alice steps down", || async { page(app, "/gh/acme/secret/settings", &alice).await.0 == 404 })
        .await;
}

/// A grant from one source never removes another's: a role granted by a group (an identity
/// provider's, at sign-in) stays when the role granted by hand goes, and the settings page
/// says where each came from.
#[tokio::test]
async fn grants_from_different_sources_stand_apart() {
    let (f, carol, _alice, _root) = team().await;
    let app = &f.app;
    let db = app.db().await;
    let project = db.project_store().project_by_slug(&"gh/acme/secret".parse().unwrap()).await.unwrap();
    let bob = db.account_store().user_by_name("bob").await.unwrap();
    let group = vitrine_store::GrantSource::Group("platform-team".into());
    db.project_store().grant(project.id, bob.id, vitrine_store::Role::Member, &group).await.unwrap();
    let settings = "/gh/acme/secret/settings";
    assert_eq!(
        post(app, settings, &carol, &[("do", "add-member"), ("username", "bob"), ("role", "maintainer")]).await.0,
        303
    );
    let (_, html) = page(app, settings, &carol).await;
    assert!(html.contains("group platform-team") && html.contains("by hand"), "{html}");
    // Removing the grant by hand leaves the group's: bob still reads the project.
    assert_eq!(post(app, settings, &carol, &[("do", "remove-member"), ("username", "bob")]).await.0, 303);
    assert_eq!(app.get("/api/v1.1/project/github/acme/secret", Some(&f.outsider_token)).await.status(), 200);
    // Nothing is left by hand to remove: the page says where the membership comes from.
    let (status, _, html) = post(app, settings, &carol, &[("do", "remove-member"), ("username", "bob")]).await;
    assert_eq!(status, 409);
    assert!(html.contains("through the group(s) platform-team"), "{html}");
    let said = admin_refused(app, &["member", "remove", "gh/acme/secret", "bob"]).await;
    assert!(said.contains("through the group(s) platform-team"), "{said}");
}

#[tokio::test]
async fn wrong_current_passwords_count_as_failed_sign_ins() {
    let (f, _carol, alice, _root) = team().await;
    let app = &f.app;
    let wrong = [("do", "password"), ("current", "guess"), ("new", "new-password-1"), ("repeat", "new-password-1")];
    for _ in 0..10 {
        assert_eq!(post(app, "/account", &alice, &wrong).await.0, 400);
    }
    let (status, _, html) = post(app, "/account", &alice, &wrong).await;
    assert_eq!(status, 429);
    assert!(html.contains("Too many wrong passwords"), "{html}");
    assert_eq!(sign_in_status(app, "alice", "alice-password").await, 429, "the sign-in form counts them too");
}

/// An instance admin pins builds of any project from its page, member or not; a user who is
/// neither cannot.
#[tokio::test]
async fn instance_admins_pin_builds_of_every_project() {
    let (f, _carol, _alice, root) = team().await;
    let app = &f.app;
    assert_ok(&app.run_build(&f.private_build_token, "gh/acme/secret", "main", "true").await);
    let pin = [("vcs", "gh"), ("org", "acme"), ("repo", "secret"), ("build_num", "1"), ("pin", "true")];
    let bob = app.sign_in("bob", "bob-password").await;
    let r = app.http.post(format!("{}/api/pin", app.url)).header("Cookie", &bob).form(&pin).send().await.unwrap();
    assert_eq!(r.status(), 404, "bob cannot see the project");
    let r = app.http.post(format!("{}/api/pin", app.url)).header("Cookie", &root).form(&pin).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let page = app.get_with_cookie("/gh/acme/secret/1", &root).await.text().await.unwrap();
    assert!(page.contains("Pinned") && page.contains("Unpin"), "the page shows the pin and its button");
    assert!(!page.contains("Artifacts expire"), "a pinned build keeps its artifacts");
}
