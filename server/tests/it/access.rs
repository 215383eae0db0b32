//! One access table: every route the server has (API, agent API, site, Leptos pages and
//! server functions, the artifacts origin) x every kind of caller x a private and a public
//! project gives the status the table says, and private bytes reach no one who may not read
//! them. A route that is not in the table fails the test: adding one means deciding who may
//! call it.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::*;

/// The callers, in the order of the table's columns.
const CALLERS: [&str; 12] = [
    "anonymous",
    "unknown token",
    "revoked token",
    "disabled user's token",
    "non-member's token",
    "member's token",
    "another project's build token",
    "this project's build token",
    "a running build's own token",
    "a finished build's own token",
    "member's session cookie",
    "another build's capability",
];

/// Who may do what: a route, then for a private and a public project the status each caller
/// (in the order of [`CALLERS`]) gets. Agent routes start from a running build of their own.
#[rustfmt::skip]
const TABLE: &[(&str, &str, [&str; 2])] = &[
    // The v1.1 API (CircleCI's shapes): a private project's existence is not told to those who
    // may not read it (404); a token that is not valid is refused (401) even on public data.
    ("GET", "/api/v1.1/me", [
        "401 401 401 401 200 200 401 401 401 401 200 401",
        "401 401 401 401 200 200 401 401 401 401 200 401",
    ]),
    ("GET", "/api/v1.1/projects", [
        "200 401 401 401 200 200 200 200 200 200 200 401",
        "200 401 401 401 200 200 200 200 200 200 200 401",
    ]),
    ("GET", "/api/v1.1/project/{vcs}/{org}/{repo}", [
        "404 401 401 401 404 200 404 200 404 404 200 401",
        "200 401 401 401 200 200 200 200 200 200 200 401",
    ]),
    ("GET", "/api/v1.1/project/{vcs}/{org}/{repo}/tree/{*branch}", [
        "404 401 401 401 404 200 404 200 404 404 200 401",
        "200 401 401 401 200 200 200 200 200 200 200 401",
    ]),
    ("GET", "/api/v1.1/project/{vcs}/{org}/{repo}/{build_num}", [
        "404 401 401 401 404 200 404 200 404 404 200 401",
        "200 401 401 401 200 200 200 200 200 200 200 401",
    ]),
    ("GET", "/api/v1.1/project/{vcs}/{org}/{repo}/{build_num}/artifacts", [
        "404 401 401 401 404 200 404 200 404 404 200 401",
        "200 401 401 401 200 200 200 200 200 200 200 401",
    ]),
    ("GET", "/api/v1.1/project/{vcs}/{org}/{repo}/{build_num}/tests", [
        "404 401 401 401 404 200 404 200 404 404 200 401",
        "200 401 401 401 200 200 200 200 200 200 200 401",
    ]),
    ("GET", "/api/v1.1/project/{vcs}/{org}/{repo}/{build_num}/artifacts/{node_index}/{*path}", [
        "404 401 401 401 404 302 404 302 404 404 302 401",
        "302 401 401 401 302 302 302 302 302 302 302 401",
    ]),
    // The same route in the site's shape, for the build page's permalinks.
    ("GET", "/{vcs}/{org}/{repo}/{build_num}/artifacts/{node_index}/{*path}", [
        "404 401 401 401 404 302 404 302 404 404 302 401",
        "302 401 401 401 302 302 302 302 302 302 302 401",
    ]),
    ("GET", "/api/v2/project/{vcs}/{org}/{repo}/{job_number}/artifacts", [
        "404 401 401 401 404 200 404 200 404 404 200 401",
        "200 401 401 401 200 200 200 200 200 200 200 401",
    ]),
    ("GET", "/api/{*rest}", [
        "404 404 404 404 404 404 404 404 404 404 404 404",
        "404 404 404 404 404 404 404 404 404 404 404 404",
    ]),
    ("POST", "/api/{*rest}", [
        "404 404 404 404 404 404 404 404 404 404 404 404",
        "404 404 404 404 404 404 404 404 404 404 404 404",
    ]),
    // A folder or a container as a zip: whoever may read the build, by token or session.
    ("GET", "/{vcs}/{org}/{repo}/{build_num}/download/{node_index}", [
        "404 401 401 401 404 200 404 200 404 404 200 401",
        "200 401 401 401 200 200 200 200 200 200 200 401",
    ]),
    // An image's pixel difference with the last green build's: its readers (here, build 1
    // has no green build before it: nothing to compare with).
    ("GET", "/{vcs}/{org}/{repo}/{build_num}/compare/{node_index}/{*path}", [
        "404 401 401 401 404 404 404 404 404 404 404 401",
        "404 401 401 401 404 404 404 404 404 404 404 401",
    ]),
    // A Playwright trace in the trace viewer: its readers (here the file is no zip: 400).
    ("GET", "/{vcs}/{org}/{repo}/{build_num}/trace/{node_index}/{*path}", [
        "404 401 401 401 404 400 404 400 404 404 400 401",
        "400 401 401 401 400 400 400 400 400 400 400 401",
    ]),
    // The agent API: a project's build token starts and finishes builds; a running build's own
    // token adds artifacts to it and may not set its status; nothing else writes. A finished
    // build's token reads what anonymous reads and writes nothing.
    ("POST", "/api/agent/projects/{vcs}/{org}/{repo}/builds", [
        "404 401 401 401 404 403 404 200 403 403 403 401",
        "401 401 401 401 403 403 403 200 403 403 403 401",
    ]),
    ("POST", "/api/agent/projects/{vcs}/{org}/{repo}/builds/{build_num}/uploads", [
        "404 401 401 401 404 403 404 200 200 403 403 401",
        "401 401 401 401 403 403 403 200 200 403 403 401",
    ]),
    ("POST", "/api/agent/projects/{vcs}/{org}/{repo}/builds/{build_num}/uploads/complete", [
        "404 401 401 401 404 403 404 200 200 403 403 401",
        "401 401 401 401 403 403 403 200 200 403 403 401",
    ]),
    ("POST", "/api/agent/projects/{vcs}/{org}/{repo}/builds/{build_num}/finish", [
        "404 401 401 401 404 403 404 200 403 403 403 401",
        "401 401 401 401 403 403 403 200 403 403 403 401",
    ]),
    // The site: tokens are for the API; pages and server functions know sessions only, so a
    // token there is nobody (and public pages still show).
    ("GET", "/healthz", [
        "200 200 200 200 200 200 200 200 200 200 200 200",
        "200 200 200 200 200 200 200 200 200 200 200 200",
    ]),
    ("GET", "/api/openapi.json", [
        "200 200 200 200 200 200 200 200 200 200 200 200",
        "200 200 200 200 200 200 200 200 200 200 200 200",
    ]),
    ("GET", "/readyz", [
        "200 200 200 200 200 200 200 200 200 200 200 200",
        "200 200 200 200 200 200 200 200 200 200 200 200",
    ]),
    // Metrics go by the client's address (--metrics-allow: loopback here), not by who asks.
    ("GET", "/metrics", [
        "200 200 200 200 200 200 200 200 200 200 200 200",
        "200 200 200 200 200 200 200 200 200 200 200 200",
    ]),
    // The agent binaries hold nothing of any project: anyone may fetch them (none is
    // installed beside a test's server: the list says so, a binary is not found).
    ("GET", "/downloads/", [
        "200 200 200 200 200 200 200 200 200 200 200 200",
        "200 200 200 200 200 200 200 200 200 200 200 200",
    ]),
    ("GET", "/downloads/{name}", [
        "404 404 404 404 404 404 404 404 404 404 404 404",
        "404 404 404 404 404 404 404 404 404 404 404 404",
    ]),
    ("GET", "/logout", [
        "405 405 405 405 405 405 405 405 405 405 405 405",
        "405 405 405 405 405 405 405 405 405 405 405 405",
    ]),
    ("GET", "/", [
        "200 200 200 200 200 200 200 200 200 200 200 200",
        "200 200 200 200 200 200 200 200 200 200 200 200",
    ]),
    ("GET", "/login", [
        "200 200 200 200 200 200 200 200 200 200 200 200",
        "200 200 200 200 200 200 200 200 200 200 200 200",
    ]),
    ("GET", "/{vcs}/{org}/{repo}", [
        "404 404 404 404 404 404 404 404 404 404 200 404",
        "200 200 200 200 200 200 200 200 200 200 200 200",
    ]),
    ("GET", "/{vcs}/{org}/{repo}/{build_num}", [
        "404 404 404 404 404 404 404 404 404 404 200 404",
        "200 200 200 200 200 200 200 200 200 200 200 200",
    ]),
    ("POST", "/api/build", [
        "404 404 404 404 404 404 404 404 404 404 200 404",
        "200 200 200 200 200 200 200 200 200 200 200 200",
    ]),
    // The Artifacts tab's folders and filter: whoever may read the build (sessions only).
    ("POST", "/api/browse", [
        "404 404 404 404 404 404 404 404 404 404 200 404",
        "200 200 200 200 200 200 200 200 200 200 200 200",
    ]),
    // The gallery's later pages: whoever may read the build (sessions only).
    ("POST", "/api/gallery", [
        "404 404 404 404 404 404 404 404 404 404 200 404",
        "200 200 200 200 200 200 200 200 200 200 200 200",
    ]),
    // An opened file's preview: whoever may read the build (sessions only).
    ("POST", "/api/file", [
        "404 404 404 404 404 404 404 404 404 404 200 404",
        "200 200 200 200 200 200 200 200 200 200 200 200",
    ]),
    // Pinning a build: members of its project, signed in.
    ("POST", "/api/pin", [
        "404 404 404 404 404 404 404 404 404 404 200 404",
        "401 401 401 401 401 401 401 401 401 401 403 401",
    ]),
    ("POST", "/api/whoami", [
        "200 200 200 200 200 200 200 200 200 200 200 200",
        "200 200 200 200 200 200 200 200 200 200 200 200",
    ]),
    // Wrong credentials, for everyone.
    ("POST", "/api/login", [
        "401 401 401 401 401 401 401 401 401 401 401 401",
        "401 401 401 401 401 401 401 401 401 401 401 401",
    ]),
    // The sign-in page's password form: a wrong password is a 401 for everyone.
    ("POST", "/login", [
        "401 401 401 401 401 401 401 401 401 401 401 401",
        "401 401 401 401 401 401 401 401 401 401 401 401",
    ]),
    // Sign-in through a provider: this server has none (404), and a return from one that
    // this browser did not start is refused (400), whoever asks.
    ("POST", "/auth/oidc/start", [
        "404 404 404 404 404 404 404 404 404 404 404 404",
        "404 404 404 404 404 404 404 404 404 404 404 404",
    ]),
    ("GET", "/auth/oidc/callback", [
        "400 400 400 400 400 400 400 400 400 400 400 400",
        "400 400 400 400 400 400 400 400 400 400 400 400",
    ]),
    // Project settings: its maintainers and the instance's admins (none of these callers);
    // to everyone else the same 404 as a private project; signed out, the way to sign in.
    ("GET", "/{vcs}/{org}/{repo}/settings", [
        "303 401 401 401 404 404 404 404 404 404 404 401",
        "303 401 401 401 404 404 404 404 404 404 404 401",
    ]),
    ("POST", "/{vcs}/{org}/{repo}/settings", [
        "303 401 401 401 404 404 404 404 404 404 404 401",
        "303 401 401 401 404 404 404 404 404 404 404 401",
    ]),
    // One's account: a session, or a token of the admin scope (these are read tokens: 403);
    // build tokens are nobody's account. An empty form is not one the page sends: 400.
    ("GET", "/account", [
        "303 401 401 401 403 403 401 401 401 401 200 401",
        "303 401 401 401 403 403 401 401 401 401 200 401",
    ]),
    ("POST", "/account", [
        "303 401 401 401 403 403 401 401 401 401 400 401",
        "303 401 401 401 403 403 401 401 401 401 400 401",
    ]),
    // The admin pages: instance admins only (none of these callers); to others they do not exist.
    ("GET", "/admin", [
        "303 401 401 401 404 404 404 404 404 404 404 401",
        "303 401 401 401 404 404 404 404 404 404 404 401",
    ]),
    ("POST", "/admin", [
        "303 401 401 401 404 404 404 404 404 404 404 401",
        "303 401 401 401 404 404 404 404 404 404 404 401",
    ]),
    // The artifacts origin: the capability in the path is the only credential; another
    // build's opens nothing of this one.
    ("GET", "/c/{capability}/{*path}", [
        "404 404 404 404 404 404 404 404 404 404 404 404",
        "404 404 404 404 404 404 404 404 404 404 404 404",
    ]),
    // Last: signing out ends the session the other rows use. It always redirects home.
    ("POST", "/logout", [
        "303 303 303 303 303 303 303 303 303 303 303 303",
        "303 303 303 303 303 303 303 303 303 303 303 303",
    ]),
];

/// Bytes and a file name only the private project holds.
const PRIVATE_BYTES: &str = "PRIVATE-BYTES-7f3a";
const PRIVATE_NAME: &str = "private-name-91c2.txt";

struct Project {
    slug: &'static str,
    long: &'static str,
    build_token: String,
    /// A finished build's own token.
    finished_token: String,
    /// A running build's own token.
    running_token: String,
    /// A capability for this project's report, valid for another project's requests.
    capability: String,
}

enum Credential {
    None,
    Token(String),
    Cookie(String),
}

struct World {
    f: Fixture,
    private: Project,
    public: Project,
    revoked: String,
    disabled: String,
    session: String,
}

/// A build started through the agent API: its number and its own token.
async fn start_build(f: &Fixture, slug: &str, build_token: &str) -> (i64, String) {
    let (status, started) =
        agent_call(f, build_token, &format!("/api/agent/projects/{slug}/builds"), json!({"branch": "main"})).await;
    assert_eq!(status, 200, "{started}");
    (started["build_num"].as_i64().unwrap(), started["build_token"].as_str().unwrap().to_owned())
}

async fn project(f: &Fixture, slug: &'static str, long: &'static str, build_token: &str, bytes: &str) -> Project {
    let script = format!(
        r#"mkdir -p "$CIRCLE_ARTIFACTS/report"
        echo '{bytes}' > "$CIRCLE_ARTIFACTS/{PRIVATE_NAME}"
        echo '<p>{bytes}</p>' > "$CIRCLE_ARTIFACTS/report/index.html""#
    );
    assert_ok(&f.app.run_build(build_token, slug, "main", &script).await);
    let (num, finished_token) = start_build(f, slug, build_token).await;
    let finish = format!("/api/agent/projects/{slug}/builds/{num}/finish");
    assert_eq!(agent_call(f, build_token, &finish, json!({"status": "success"})).await.0, 200);
    let report = format!("{}/api/v1.1/project/{long}/1/artifacts/0/$CIRCLE_ARTIFACTS/report/index.html", f.app.url);
    let r = f.app.http.get(report).header("Circle-Token", build_token).header("Sec-Fetch-Mode", "navigate");
    let location = r.send().await.unwrap().headers()["location"].to_str().unwrap().to_owned();
    let capability = location.split("/c/").nth(1).unwrap().split('/').next().unwrap().to_owned();
    let (_, running_token) = start_build(f, slug, build_token).await;
    Project { slug, long, build_token: build_token.to_owned(), finished_token, running_token, capability }
}

async fn world() -> World {
    let f = TestApp::with_projects().await;
    let app = &f.app;
    let revoked = last_line(&app.admin(&["token", "create", "alice"]).await);
    app.admin(&["token", "revoke", &revoked]).await;
    app.admin_stdin(&["user", "add", "carol", "--password-stdin"], "carol-password\n").await;
    app.admin(&["member", "add", "gh/acme/secret", "carol"]).await;
    let disabled = last_line(&app.admin(&["token", "create", "carol"]).await);
    app.admin(&["user", "disable", "carol"]).await;
    let session = app.sign_in("alice", "alice-password").await;
    let private_token = f.private_build_token.clone();
    let public_token = f.public_build_token.clone();
    let private = project(&f, "gh/acme/secret", "github/acme/secret", &private_token, PRIVATE_BYTES).await;
    let public = project(&f, "gh/acme/public-site", "github/acme/public-site", &public_token, "public bytes").await;
    World { f, private, public, revoked, disabled, session }
}

impl World {
    fn credential(&self, caller: usize, this: &Project, other: &Project, running: &str) -> Credential {
        let token = |t: &str| Credential::Token(t.to_owned());
        match caller {
            0 => Credential::None,
            1 => token(&"0f".repeat(20)),
            2 => token(&self.revoked),
            3 => token(&self.disabled),
            4 => token(&self.f.outsider_token),
            5 => token(&self.f.member_token),
            6 => token(&other.build_token),
            7 => token(&this.build_token),
            8 => token(running),
            9 => token(&this.finished_token),
            10 => Credential::Cookie(self.session.clone()),
            11 => token(&other.capability),
            _ => unreachable!(),
        }
    }
}

/// The concrete request of a route for a project: its URL (on the app or the artifacts
/// origin), and its body.
fn request(
    w: &World,
    route: &str,
    this: &Project,
    other: &Project,
    build_num: i64,
    caller: usize,
) -> (String, Option<Value>) {
    let (vcs_long, rest) = this.long.split_once('/').unwrap();
    let (org, repo) = rest.split_once('/').unwrap();
    let vcs = if route.starts_with("/api/v1.1/") { vcs_long } else { this.slug.split('/').next().unwrap() };
    let capability = if caller == 11 { other.capability.as_str() } else { "not-a-capability" };
    let path = format!("$CIRCLE_ARTIFACTS/{PRIVATE_NAME}");
    let concrete = route
        .replace("{vcs}", vcs)
        .replace("{org}", org)
        .replace("{repo}", repo)
        .replace("{build_num}", &build_num.to_string())
        .replace("{job_number}", &build_num.to_string())
        .replace("{*branch}", "main")
        .replace("{node_index}", "0")
        .replace("{*path}", &path)
        .replace("{*rest}", "no-such-route")
        .replace("{capability}", capability)
        .replace("{name}", "vitrine-agent-x86_64-unknown-linux-gnu");
    let base = if route.starts_with("/c/") { &w.f.app.running.artifacts_url } else { &w.f.app.url };
    let body = match route {
        r if r.ends_with("/builds") => Some(json!({"branch": "main"})),
        r if r.ends_with("/uploads") => Some(json!({"node_index": 0, "files": []})),
        r if r.ends_with("/uploads/complete") => Some(json!({"uploads": []})),
        r if r.ends_with("/finish") => Some(json!({"status": "success"})),
        _ => None,
    };
    (format!("{base}{concrete}"), body)
}

/// A server function's arguments, as the page sends them: a URL-encoded form for the forms
/// that work without JavaScript (signing in, pinning), postcard for the rest. The content
/// type and the body.
fn server_fn_body(route: &str, this: &Project, caller: usize) -> Option<(&'static str, Vec<u8>)> {
    use vitrine_app::api as fns;
    let mut parts = this.slug.split('/');
    let (vcs, org, repo) = (parts.next()?.to_owned(), parts.next()?.to_owned(), parts.next()?.to_owned());
    let build_num = "1".to_owned();
    let form = |fields: &[(&str, &str)]| {
        let body = fields.iter().map(|(k, v)| format!("{k}={}", urlencoding(v))).collect::<Vec<_>>().join("&");
        Some(("application/x-www-form-urlencoded", body.into_bytes()))
    };
    #[allow(clippy::unnecessary_wraps)] // one of the arms' Options
    fn postcard(args: &impl serde::Serialize) -> Option<(&'static str, Vec<u8>)> {
        Some(("application/x-postcard", postcard::to_allocvec(args).unwrap()))
    }
    match route {
        "/api/login" | "/login" => {
            form(&[("username", &format!("nobody-{caller}-{}", this.slug.len())), ("password", "wrong"), ("next", "")])
        }
        "/api/pin" => form(&[("vcs", &vcs), ("org", &org), ("repo", &repo), ("build_num", "1"), ("pin", "true")]),
        "/api/build" => postcard(&fns::GetBuildPage { vcs, org, repo, build_num }),
        "/api/browse" => postcard(&fns::BrowseArtifacts {
            at: fns::BrowseRequest {
                vcs,
                org,
                repo,
                build_num,
                node: 0,
                folder: "$CIRCLE_ARTIFACTS/".into(),
                filter: String::new(),
                after: String::new(),
            },
        }),
        "/api/gallery" => postcard(&fns::GalleryImages {
            at: fns::GalleryRequest { vcs, org, repo, build_num, after: "0:$CIRCLE_ARTIFACTS/a".into() },
        }),
        "/api/file" => postcard(&fns::OpenArtifact {
            at: fns::FileRequest {
                vcs,
                org,
                repo,
                build_num,
                node: 0,
                path: format!("$CIRCLE_ARTIFACTS/{PRIVATE_NAME}"),
            },
        }),
        "/api/whoami" => postcard(&fns::CurrentUser {}),
        _ => None,
    }
}

fn urlencoding(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_every_caller_as_the_table_says() {
    // Every route the server has is in the table, and the table names no route it lacks.
    let mut served: BTreeSet<(String, String)> =
        vitrine::http::router::routes().into_iter().map(|r| (r.method.to_string(), r.path)).collect();
    served.extend(vitrine::http::router::page_routes().into_iter().map(|(m, p)| (m.to_string(), p)));
    served.insert(("GET".into(), vitrine::http::artifacts_origin::CAPABILITY_ROUTE.into()));
    let tabled: BTreeSet<(String, String)> = TABLE.iter().map(|(m, p, _)| (m.to_string(), p.to_string())).collect();
    let untabled: Vec<_> = served.difference(&tabled).collect();
    assert!(untabled.is_empty(), "routes missing from the access table: {untabled:?}");
    let gone: Vec<_> = tabled.difference(&served).collect();
    assert!(gone.is_empty(), "the access table names routes the server does not have: {gone:?}");

    let w = world().await;
    // A call that hangs fails the test, naming itself, rather than holding up the suite.
    let http = &reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .unwrap();
    let mut wrong = vec![];
    let mut actual_table = String::new();
    for (method, route, expected) in TABLE {
        for (visibility, (this, other)) in [(&w.private, &w.public), (&w.public, &w.private)].into_iter().enumerate() {
            let statuses: Vec<u16> = expected[visibility].split(' ').map(|s| s.parse().unwrap()).collect();
            assert_eq!(statuses.len(), CALLERS.len(), "{route}");
            let mut got_row = vec![];
            for (caller, expect) in statuses.into_iter().enumerate() {
                // Agent routes act on a running build of their own, so each call starts fresh.
                let (build_num, running) = if route.starts_with("/api/agent/") {
                    start_build(&w.f, this.slug, &this.build_token).await
                } else {
                    (1, this.running_token.clone())
                };
                let (url, body) = request(&w, route, this, other, build_num, caller);
                let mut req = http.request(method.parse::<Method>().unwrap(), &url);
                match w.credential(caller, this, other, &running) {
                    Credential::None => {}
                    Credential::Token(t) => req = req.header("Circle-Token", t),
                    Credential::Cookie(c) => req = req.header("Cookie", c),
                }
                if route.starts_with("/api/agent/") {
                    req = req.header(
                        vitrine_wire::agent::PROTOCOL_HEADER,
                        vitrine_wire::agent::PROTOCOL_VERSION.to_string(),
                    );
                }
                if let Some((content_type, args)) = server_fn_body(route, this, caller) {
                    req = req.header("Content-Type", content_type).body(args);
                } else if let Some(body) = body {
                    req = req.json(&body);
                }
                let r = req.send().await.unwrap_or_else(|e| panic!("{method} {url} as {}: {e}", CALLERS[caller]));
                let status = r.status().as_u16();
                let location = r.headers().get("location").map(|l| l.to_str().unwrap().to_owned());
                let text = r.text().await.unwrap_or_default();
                got_row.push(status.to_string());
                let who = CALLERS[caller];
                let project = this.slug;
                if status != expect {
                    wrong.push(format!(
                        "{method} {route} on {project} as {who}: {status}, expected {expect}: {text:.200}"
                    ));
                }
                // The private project's bytes and names reach only those who may read it.
                let may_read_private = this.slug == w.private.slug && matches!(caller, 5 | 7 | 10);
                if !may_read_private {
                    assert!(!text.contains(PRIVATE_BYTES), "{method} {url} as {who} shows private bytes");
                    // (An answer may repeat a name the caller sent, not tell one.)
                    if this.slug == w.private.slug && !url.contains(PRIVATE_NAME) {
                        assert!(!text.contains(PRIVATE_NAME), "{method} {url} as {who} shows a private name");
                    }
                }
                // A redirect leads to the artifact's bytes: only for those the table lets in.
                if let Some(location) = location.filter(|_| status == 302) {
                    let stored = http.get(&location).send().await;
                    let bytes = stored.unwrap_or_else(|e| panic!("{location}: {e}")).text().await.unwrap();
                    let theirs = if this.slug == w.private.slug { PRIVATE_BYTES } else { "public bytes" };
                    assert!(bytes.contains(theirs), "{url} as {who} leads to the artifact: {bytes:.100}");
                }
            }
            actual_table.push_str(&format!("{method} {route} [{}]\n", got_row.join(" ")));
        }
    }
    if std::env::var_os("ACCESS_TABLE_PRINT").is_some() {
        println!("{actual_table}");
    }
    assert!(wrong.is_empty(), "{} calls answered other than the table says:\n{}", wrong.len(), wrong.join("\n"));

    // The one credential the artifacts origin knows: a capability opens its own report.
    let own =
        format!("{}/c/{}/$CIRCLE_ARTIFACTS/report/index.html", w.f.app.running.artifacts_url, w.private.capability);
    let r = reqwest::get(&own).await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.text().await.unwrap().contains(PRIVATE_BYTES));
}
