//! Sign-in through OpenID Connect, against a real OpenID Provider: panva's certified
//! `oidc-provider` (`end2end/oidc/provider.mjs`, from the npm packages `scripts/setup.sh`
//! installs), driven as a browser drives it: its login page filled in, cookies kept, redirects
//! followed. Hostile ID tokens (another audience, an unknown key, `alg: none`, expired, another
//! issuer, a wrong nonce or authorized party) come from a provider of the test's own that signs
//! what it is told to; nothing else a provider does is stood in for.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;

use crate::common::{Fixture, TestApp, UploadSettings, assert_ok};
use vitrine::identity::{OidcSettings, ProviderSettings};

/// The test provider, as its own process.
pub struct OidcProvider {
    pub issuer: String,
    _child: tokio::process::Child,
}

impl OidcProvider {
    pub async fn start() -> OidcProvider {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../end2end/oidc/provider.mjs");
        let mut child = tokio::process::Command::new("node")
            .arg(script)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs the test provider (scripts/setup.sh installs its packages)");
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await.unwrap().unwrap().unwrap();
        let issuer = first.strip_prefix("ISSUER ").expect("the provider says where it listens").to_owned();
        OidcProvider { issuer, _child: child }
    }

    /// Changes the provider: its client's URLs, its accounts' claims, its signing key.
    pub async fn change(&self, change: Value) -> Value {
        let r = reqwest::Client::new().post(format!("{}/__test", self.issuer)).json(&change).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
        r.json().await.unwrap()
    }

    /// Registers a Vitrine server's callback and sign-out return at the provider.
    pub async fn register(&self, app_url: &str) {
        self.change(json!({"client": {
            "redirect_uris": [format!("{app_url}/auth/oidc/callback")],
            "post_logout_redirect_uris": [format!("{app_url}/login")],
        }}))
        .await;
    }
}

/// The server's settings for one provider, `name`, with groups read from `groups`.
pub fn settings_for(issuer: &str, secret: &str, recheck: Duration) -> OidcSettings {
    OidcSettings {
        providers: vec![ProviderSettings {
            name: "Test SSO".into(),
            issuer: issuer.into(),
            client_id: "vitrine".into(),
            client_secret: secret.into(),
        }],
        groups_claim: Some("groups".into()),
        admin_group: Some("vitrine-admins".into()),
        recheck_after: recheck,
        scopes: vec!["profile".into(), "email".into(), "groups".into()],
        ..OidcSettings::none()
    }
}

/// A browser, as far as sign-in needs one: cookies kept by name (for every host on
/// 127.0.0.1, as browsers keep them regardless of port), redirects followed by hand.
pub struct Browser {
    http: reqwest::Client,
    pub cookies: HashMap<String, String>,
}

impl Browser {
    pub fn new() -> Browser {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Browser { http, cookies: HashMap::new() }
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    fn keep_cookies(&mut self, r: &reqwest::Response) {
        for set in r.headers().get_all("set-cookie") {
            let text = set.to_str().unwrap();
            let (pair, attrs) = text.split_once(';').unwrap_or((text, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() || attrs.contains("Max-Age=0") || attrs.contains("expires=Thu, 01 Jan 1970") {
                self.cookies.remove(name.trim());
            } else {
                self.cookies.insert(name.trim().to_owned(), value.to_owned());
            }
        }
    }

    pub async fn get(&mut self, url: &str) -> reqwest::Response {
        let r = self.http.get(url).header("Cookie", self.cookie_header()).send().await.unwrap();
        self.keep_cookies(&r);
        r
    }

    pub async fn post(&mut self, url: &str, form: &[(String, String)]) -> reqwest::Response {
        let r = self.http.post(url).header("Cookie", self.cookie_header()).form(form).send().await.unwrap();
        self.keep_cookies(&r);
        r
    }

    /// Follows redirects (GETs) from `r` until an answer that is not one, or one to a URL
    /// starting with `stop_at`; answers the last URL and response.
    pub async fn follow(
        &mut self,
        mut url: String,
        mut r: reqwest::Response,
        stop_at: Option<&str>,
    ) -> (String, reqwest::Response) {
        for _ in 0..20 {
            if !r.status().is_redirection() {
                return (url, r);
            }
            let location = r.headers()["location"].to_str().unwrap().to_owned();
            url = if location.starts_with('/') { format!("{}{location}", origin(&url)) } else { location };
            if stop_at.is_some_and(|s| url.starts_with(s)) {
                return (url, r);
            }
            r = self.get(&url).await;
        }
        panic!("too many redirects, last {url}");
    }

    /// The session cookie Vitrine set, as a `Cookie` header.
    pub fn session(&self) -> String {
        format!("vitrine_session={}", self.cookies["vitrine_session"])
    }
}

fn origin(url: &str) -> String {
    let u = url::Url::parse(url).unwrap();
    u.origin().ascii_serialization()
}

/// A form of an HTML page: its action and hidden fields.
fn form_of(html: &str, action_contains: &str) -> (String, Vec<(String, String)>) {
    let start = html
        .match_indices("<form")
        .map(|(i, _)| i)
        .find(|&i| html[i..].split('>').next().unwrap().contains(action_contains))
        .unwrap_or_else(|| panic!("a form posting to {action_contains} in {html}"));
    let form = &html[start..start + html[start..].find("</form>").unwrap()];
    let attr = |tag: &str, name: &str| {
        tag.split(&format!("{name}=\"")).nth(1).map(|rest| rest.split('"').next().unwrap().replace("&amp;", "&"))
    };
    let action = attr(form.split('>').next().unwrap(), "action").unwrap();
    let fields = form
        .split("<input")
        .skip(1)
        .filter(|tag| tag.contains("type=\"hidden\""))
        .filter_map(|tag| Some((attr(tag, "name")?, attr(tag, "value").unwrap_or_default())))
        .collect();
    (action, fields)
}

/// Signs in to `app` through the provider's login page as `login`, starting from the sign-in
/// page with `next`; answers the browser and where it landed (the last redirect's target).
pub async fn sign_in_through(app_url: &str, login: &str, next: &str) -> (Browser, String, reqwest::Response) {
    let mut browser = Browser::new();
    let page = browser.get(&format!("{app_url}/login?next={next}")).await.text().await.unwrap();
    let (action, fields) = form_of(&page, "/auth/oidc/start");
    assert!(page.contains("Sign in with Test SSO"), "{page}");
    let started = browser.post(&format!("{app_url}{action}"), &fields).await;
    assert_eq!(started.status().as_u16(), 303, "the start sends the browser to the provider");
    let (url, login_page) = browser.follow(format!("{app_url}{action}"), started, None).await;
    let html = login_page.text().await.unwrap();
    let (action, mut fields) = form_of(&html, "/interaction/");
    fields.push(("login".into(), login.into()));
    fields.push(("password".into(), "any password".into()));
    let action = if action.starts_with('/') { format!("{}{action}", origin(&url)) } else { action };
    let submitted = browser.post(&action, &fields).await;
    let (landed, r) = browser.follow(action, submitted, Some(&format!("{app_url}{next}"))).await;
    (browser, landed, r)
}

/// Presses "Sign in with Test SSO" on `url`'s sign-in page: answers where the browser is sent.
async fn start_sign_in(browser: &mut Browser, url: &str) -> url::Url {
    let page = browser.get(&format!("{url}/login")).await.text().await.unwrap();
    let (action, fields) = form_of(&page, "/auth/oidc/start");
    let r = browser.post(&format!("{url}{action}"), &fields).await;
    url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap()
}

/// [`start_sign_in`], answering the `state` the provider is to send back.
async fn started_state(browser: &mut Browser, url: &str) -> String {
    let to_provider = start_sign_in(browser, url).await;
    to_provider.query_pairs().find(|(k, _)| k == "state").unwrap().1.into_owned()
}

async fn oidc_app(provider: &OidcProvider, recheck: Duration) -> Fixture {
    let secret = "vitrine-test-secret".to_owned();
    let issuer = provider.issuer.clone();
    let f =
        TestApp::with_projects_configured(UploadSettings::default(), crate::common::test_database().await, move |c| {
            vitrine::serve::ServeConfig { oidc: settings_for(&issuer, &secret, recheck), ..c }
        })
        .await;
    provider.register(&f.app.url).await;
    f
}

async fn audit_lines(app: &TestApp) -> String {
    app.running.vitrine.audit().flush().await;
    let out = app.admin(&["audit"]).await;
    assert_ok(&out);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn people_sign_in_through_their_provider_and_land_where_they_asked() {
    let provider = OidcProvider::start().await;
    let f = oidc_app(&provider, Duration::from_secs(3600)).await;
    let app = &f.app;
    provider
        .change(json!({"accounts": {
            "carol": {"preferred_username": "carol", "groups": ["platform-team"]},
            "bob": {"preferred_username": "bob"},
        }}))
        .await;
    assert_ok(&app.admin(&["project", "map-group", "gh/acme/secret", "platform-team", "maintainer"]).await);

    // The first sign-in makes the user, from the claim, and gives the group's role.
    let (browser, landed, r) = sign_in_through(&app.url, "carol", "/gh/acme/secret/settings").await;
    assert_eq!(landed, format!("{}/gh/acme/secret/settings", app.url), "lands on the page it asked for");
    assert_eq!(r.status().as_u16(), 303);
    let settings = app.get_with_cookie("/gh/acme/secret/settings", &browser.session()).await;
    assert_eq!(settings.status().as_u16(), 200, "a maintainer through platform-team");
    let html = settings.text().await.unwrap();
    assert!(html.contains("group:platform-team") || html.contains("platform-team"), "the grant names its group");
    let identities = app.admin(&["user", "identities", "carol"]).await;
    assert!(String::from_utf8_lossy(&identities.stdout).contains(&provider.issuer));

    // A maintainer gives a role to another group from the settings page, and takes it back.
    let settings = format!("{}/gh/acme/secret/settings", app.url);
    let post = |cookie: String, url: String, form: Vec<(&'static str, String)>| async move {
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        client.post(url).header("Cookie", cookie).form(&form).send().await.unwrap()
    };
    let mapped = vec![("do", "map-group".to_owned()), ("group", "qa-team".to_owned()), ("role", "member".to_owned())];
    let r = post(browser.session(), settings.clone(), mapped).await;
    assert_eq!(r.status().as_u16(), 303);
    let page = app.get_with_cookie("/gh/acme/secret/settings", &browser.session()).await.text().await.unwrap();
    assert!(page.contains("Identity provider groups") && page.contains("qa-team"), "{page}");
    let unmapped = vec![("do", "unmap-group".to_owned()), ("group", "qa-team".to_owned())];
    assert_eq!(post(browser.session(), settings.clone(), unmapped).await.status().as_u16(), 303);
    let page = app.get_with_cookie("/gh/acme/secret/settings", &browser.session()).await.text().await.unwrap();
    assert!(!page.contains("qa-team"));

    // The same person again is the same user (an admin now: a new session reads it at once).
    assert_ok(&app.admin(&["user", "promote", "carol"]).await);
    let (again, _, _) = sign_in_through(&app.url, "carol", "/account").await;
    let account = app.get_with_cookie("/account", &again.session()).await.text().await.unwrap();
    assert!(account.contains("carol") && !account.contains("carol-2"));
    assert!(account.contains("no password here"), "a person of the provider has no password to change");

    // A local account's name is never taken by a provider's person: bob (a local user of the
    // fixture) stays bob; the provider's bob becomes bob-2 until an admin links them.
    let (theirs, _, _) = sign_in_through(&app.url, "bob", "/account").await;
    let page = app.get_with_cookie("/account", &theirs.session()).await.text().await.unwrap();
    assert!(page.contains("bob-2"), "a new user beside the local bob");
    assert_ok(&app.admin(&["user", "link", "bob", "--issuer", &provider.issuer, "--subject", "bob"]).await);
    let (linked, _, _) = sign_in_through(&app.url, "bob", "/account").await;
    let page = app.get_with_cookie("/account", &linked.session()).await.text().await.unwrap();
    assert!(page.contains(">bob<") && !page.contains("bob-2"), "linked: the provider's bob is the local bob");

    // An admin links and unlinks identities on the admin page too.
    let admin = format!("{}/admin", app.url);
    let link = vec![
        ("do", "link".to_owned()),
        ("username", "alice".to_owned()),
        ("issuer", provider.issuer.clone()),
        ("subject", "alice-elsewhere".to_owned()),
    ];
    assert_eq!(post(again.session(), admin.clone(), link).await.status().as_u16(), 303);
    let page = app.get_with_cookie("/admin", &again.session()).await.text().await.unwrap();
    assert!(page.contains("Sign-in identities") && page.contains("alice-elsewhere"), "{page}");
    let unlink = vec![
        ("do", "unlink".to_owned()),
        ("issuer", provider.issuer.clone()),
        ("subject", "alice-elsewhere".to_owned()),
    ];
    assert_eq!(post(again.session(), admin.clone(), unlink).await.status().as_u16(), 303);
    let page = app.get_with_cookie("/admin", &again.session()).await.text().await.unwrap();
    assert!(!page.contains("alice-elsewhere"));

    // A user disabled in Vitrine stays out, whatever the provider says (another admin first:
    // the last one cannot be disabled).
    assert_ok(&app.admin(&["user", "promote", "alice"]).await);
    assert_ok(&app.admin(&["user", "disable", "carol"]).await);
    let (_, _, refused) = sign_in_through(&app.url, "carol", "/account").await;
    assert_eq!(refused.status().as_u16(), 403);
    assert!(refused.text().await.unwrap().contains("disabled"));

    let audit = audit_lines(app).await;
    assert!(audit.contains("sign-in") && audit.contains("through Test SSO"), "{audit}");
    for action in [
        "admin.project.map-group",
        "admin.user.link",
        "project.group.map",
        "project.group.unmap",
        "user.link",
        "user.unlink",
    ] {
        assert!(audit.contains(action), "{action} audited: {audit}");
    }
}

/// Past the re-check time (2 s here) and the 4 s a server keeps a session's principal.
const RECHECK_WAIT: Duration = Duration::from_millis(4500);

#[tokio::test(flavor = "multi_thread")]
async fn groups_give_roles_and_take_them_back_at_the_recheck() {
    let provider = OidcProvider::start().await;
    let f = oidc_app(&provider, Duration::from_secs(2)).await;
    let app = &f.app;
    provider.change(json!({"accounts": {"dana": {"groups": ["platform-team", "vitrine-admins"]}}})).await;
    assert_ok(&app.admin(&["project", "map-group", "gh/acme/secret", "platform-team", "member"]).await);
    let (browser, _, _) = sign_in_through(&app.url, "dana", "/account").await;
    let session = browser.session();
    let project = "/api/v1.1/project/gh/acme/secret";
    assert_eq!(app.get_with_cookie(project, &session).await.status().as_u16(), 200, "a member through the group");
    assert_eq!(app.get_with_cookie("/admin", &session).await.status().as_u16(), 200, "an admin through the group");

    // Removed from both groups at the provider: the session keeps its roles until the
    // re-check, then the provider's word (through the refresh token) takes them back.
    provider.change(json!({"accounts": {"dana": {"groups": []}}})).await;
    tokio::time::sleep(RECHECK_WAIT).await;
    let page = app.get_with_cookie(project, &session).await;
    assert_eq!(page.status().as_u16(), 404, "no longer a member");
    assert_eq!(app.get_with_cookie("/admin", &session).await.status().as_u16(), 404, "no longer an admin");
    // The session itself goes on: the person is still who they were.
    assert_eq!(app.get_with_cookie("/account", &session).await.status().as_u16(), 200);

    // A grant by hand is not the group's to take.
    assert_ok(&app.admin(&["member", "add", "gh/acme/secret", "dana"]).await);
    provider.change(json!({"accounts": {"dana": {"groups": ["platform-team"]}}})).await;
    tokio::time::sleep(RECHECK_WAIT).await;
    assert_eq!(app.get_with_cookie(project, &session).await.status().as_u16(), 200);
    provider.change(json!({"accounts": {"dana": {"groups": []}}})).await;
    tokio::time::sleep(RECHECK_WAIT).await;
    assert_eq!(app.get_with_cookie(project, &session).await.status().as_u16(), 200, "the hand grant stays");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rotated_signing_key_is_fetched_and_sign_out_reaches_the_provider() {
    let provider = OidcProvider::start().await;
    let f = oidc_app(&provider, Duration::from_secs(3600)).await;
    let app = &f.app;
    let (first, _, _) = sign_in_through(&app.url, "erin", "/account").await;
    // The provider's key changes: the old one leaves its key set at once.
    provider.change(json!({"rotate": true})).await;
    let (second, landed, _) = sign_in_through(&app.url, "erin", "/account").await;
    assert_eq!(landed, format!("{}/account", app.url), "the new key was fetched and the token taken");

    // Signing out ends the session here and goes on to the provider's end-session endpoint.
    let r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{}/logout", app.url))
        .header("Cookie", second.session())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    let to = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(to.starts_with(&provider.issuer), "RP-initiated logout at the provider: {to}");
    assert!(to.contains("id_token_hint=") && to.contains("post_logout_redirect_uri="), "{to}");
    let account = app.get_with_cookie("/account", &second.session()).await;
    assert_eq!(account.status().as_u16(), 303, "the session is over: to the sign-in page");
    assert_eq!(app.get_with_cookie("/account", &first.session()).await.status().as_u16(), 200, "others stay");
}

#[tokio::test(flavor = "multi_thread")]
async fn forged_replayed_and_mismatched_callbacks_are_refused_and_audited() {
    let provider = OidcProvider::start().await;
    let f = oidc_app(&provider, Duration::from_secs(3600)).await;
    let app = &f.app;
    let callback = format!("{}/auth/oidc/callback", app.url);

    // No sign-in started in this browser.
    let mut stranger = Browser::new();
    let r = stranger.get(&format!("{callback}?state=abc&code=def")).await;
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.text().await.unwrap().contains("not one this browser started"));

    // Started, but the state is not the one sent (a forged callback).
    let mut forger = Browser::new();
    start_sign_in(&mut forger, &app.url).await;
    let r = forger.get(&format!("{callback}?state=forged&code=forged")).await;
    assert_eq!(r.status().as_u16(), 400, "a wrong state");

    // The right state with a code the provider never gave.
    let mut guesser = Browser::new();
    let state = started_state(&mut guesser, &app.url).await;
    let r = guesser.get(&format!("{callback}?state={state}&code=made-up")).await;
    assert_eq!(r.status().as_u16(), 401);
    assert!(r.text().await.unwrap().contains("refused this sign-in"));

    // A return that names another issuer (a mix-up) is not traded.
    let mut mixed = Browser::new();
    let state = started_state(&mut mixed, &app.url).await;
    let r = mixed.get(&format!("{callback}?state={state}&code=x&iss=https%3A%2F%2Fevil.example")).await;
    assert_eq!(r.status().as_u16(), 400, "a mix-up");

    // The provider's own refusal is told in its words.
    let mut declined = Browser::new();
    let state = started_state(&mut declined, &app.url).await;
    let r = declined.get(&format!("{callback}?state={state}&error=access_denied&error_description=Not+today")).await;
    assert_eq!(r.status().as_u16(), 401);
    assert!(r.text().await.unwrap().contains("Not today"));

    // A real callback replayed: the sign-in it belonged to is used up.
    let mut browser = Browser::new();
    let page = browser.get(&format!("{}/login", app.url)).await.text().await.unwrap();
    let (action, fields) = form_of(&page, "/auth/oidc/start");
    let started = browser.post(&format!("{}{action}", app.url), &fields).await;
    let (url, login_page) = browser.follow(format!("{}{action}", app.url), started, None).await;
    let (action, mut fields) = form_of(&login_page.text().await.unwrap(), "/interaction/");
    fields.extend([("login".to_owned(), "frank".to_owned()), ("password".to_owned(), "x".to_owned())]);
    let action = if action.starts_with('/') { format!("{}{action}", origin(&url)) } else { action };
    let submitted = browser.post(&action, &fields).await;
    let (back, _) = browser.follow(action, submitted, Some(&callback)).await;
    let pending = browser.cookies.clone();
    let first = browser.get(&back).await;
    assert_eq!(first.status().as_u16(), 303, "the real callback signs in");
    browser.cookies = pending;
    let replayed = browser.get(&back).await;
    assert_eq!(replayed.status().as_u16(), 400, "the same callback again is refused");

    let audit = audit_lines(app).await;
    for reason in
        ["no-cookie", "wrong-state", "provider-refused", "provider-error access_denied", "unknown-or-replayed"]
    {
        assert!(audit.contains(reason), "{reason} audited: {audit}");
    }

    // Failed callbacks count as failed sign-ins of the address, as wrong passwords do.
    for _ in 0..60 {
        // A made-up pending sign-in each time (the refusal clears the cookie).
        stranger.cookies.insert("vitrine_sign_in".into(), "0f".repeat(20));
        let r = stranger.get(&format!("{callback}?state=abc&code=def")).await;
        if r.status().as_u16() == 429 {
            return;
        }
    }
    panic!("the callback is rate-limited like the password form");
}

#[tokio::test(flavor = "multi_thread")]
async fn with_providers_only_the_password_form_is_gone() {
    let provider = OidcProvider::start().await;
    let issuer = provider.issuer.clone();
    let app = TestApp::start_configured(UploadSettings::default(), crate::common::test_database().await, move |c| {
        vitrine::serve::ServeConfig {
            oidc: OidcSettings { only: true, ..settings_for(&issuer, "vitrine-test-secret", Duration::from_secs(60)) },
            ..c
        }
    })
    .await;
    assert_ok(&app.admin_stdin(&["user", "add", "local", "--password-stdin"], "local-password\n").await);
    let page = app.get("/login", None).await.text().await.unwrap();
    assert!(page.contains("Sign in with Test SSO") && !page.contains("type=\"password\""));
    let form = [("username", "local"), ("password", "local-password"), ("next", "/")];
    let r = app.http.post(format!("{}/login", app.url)).form(&form).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let r = app.http.post(format!("{}/api/login", app.url)).form(&form).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 403, "nor through the server function");
}

/// A provider of the test's own, for the ID tokens a real one never signs: it answers
/// discovery and its keys like any provider, and its token endpoint hands out the token the
/// test asks for.
mod forger {
    use super::*;
    use openidconnect::core::{CoreIdToken, CoreIdTokenClaims, CoreJwsSigningAlgorithm, CoreRsaPrivateSigningKey};
    use openidconnect::{
        Audience, EmptyAdditionalClaims, IssuerUrl, JsonWebKeyId, Nonce, PrivateSigningKey, StandardClaims,
        SubjectIdentifier,
    };

    pub const KEY_A: &str = include_str!("../fixtures/oidc/key-a.pem");
    pub const KEY_B: &str = include_str!("../fixtures/oidc/key-b.pem");

    /// What the next token response carries.
    #[derive(Clone, Default)]
    pub struct Next {
        pub id_token: String,
    }

    pub struct Forger {
        pub issuer: String,
        pub next: Arc<Mutex<Next>>,
    }

    pub fn key(pem: &str, kid: &str) -> CoreRsaPrivateSigningKey {
        CoreRsaPrivateSigningKey::from_pem(pem, Some(JsonWebKeyId::new(kid.into()))).unwrap()
    }

    pub async fn start() -> Forger {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let next = Arc::new(Mutex::new(Next::default()));
        let jwks = json!({"keys": [serde_json::to_value(key(KEY_A, "a").as_verification_key()).unwrap()]});
        let discovery = json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/authorize"),
            "token_endpoint": format!("{issuer}/token"),
            "jwks_uri": format!("{issuer}/jwks"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
        });
        let tokens = next.clone();
        let router = axum::Router::new()
            .route("/.well-known/openid-configuration", axum::routing::get(move || async move { axum::Json(discovery) }))
            .route("/jwks", axum::routing::get(move || async move { axum::Json(jwks) }))
            .route(
                "/token",
                axum::routing::post(move || {
                    let id_token = tokens.lock().unwrap().id_token.clone();
                    async move {
                        axum::Json(json!({"access_token": "at", "token_type": "Bearer", "expires_in": 60, "id_token": id_token}))
                    }
                }),
            );
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Forger { issuer, next }
    }

    /// An ID token: `change` alters the claims a right token would have; signed with `pem`
    /// under key id `kid`.
    pub fn id_token(
        issuer: &str,
        nonce: &str,
        pem: &str,
        kid: &str,
        change: impl FnOnce(CoreIdTokenClaims) -> CoreIdTokenClaims,
    ) -> String {
        let now = chrono::Utc::now();
        let claims = CoreIdTokenClaims::new(
            IssuerUrl::new(issuer.into()).unwrap(),
            vec![Audience::new("vitrine".into())],
            now + chrono::TimeDelta::minutes(5),
            now,
            StandardClaims::new(SubjectIdentifier::new("mallory".into())),
            EmptyAdditionalClaims {},
        )
        .set_nonce(Some(Nonce::new(nonce.into())));
        let claims = change(claims);
        CoreIdToken::new(claims, &key(pem, kid), CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256, None, None)
            .unwrap()
            .to_string()
    }
}

/// A sign-in through the forger, whose token endpoint answers `make(issuer, nonce)`.
async fn forged_sign_in(url: &str, forger: &forger::Forger, make: &dyn Fn(&str, &str) -> String) -> reqwest::Response {
    let mut browser = Browser::new();
    let to = start_sign_in(&mut browser, url).await;
    let q: HashMap<String, String> = to.query_pairs().into_owned().collect();
    forger.next.lock().unwrap().id_token = make(&forger.issuer, &q["nonce"]);
    browser.get(&format!("{url}/auth/oidc/callback?state={}&code=c", q["state"])).await
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_id_tokens_are_refused_with_their_reason() {
    use base64::Engine;
    use openidconnect::{Audience, ClientId};
    let forger = forger::start().await;
    let issuer = forger.issuer.clone();
    let app = TestApp::start_configured(UploadSettings::default(), crate::common::test_database().await, move |c| {
        vitrine::serve::ServeConfig { oidc: settings_for(&issuer, "forger-secret", Duration::from_secs(60)), ..c }
    })
    .await;
    let iss = forger.issuer.clone();
    let none_token = move |nonce: &str| {
        let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        let now = chrono::Utc::now().timestamp();
        let payload =
            json!({"iss": iss, "aud": "vitrine", "sub": "mallory", "nonce": nonce, "iat": now, "exp": now + 300});
        format!("{}.{}.", b64(json!({"alg": "none", "typ": "JWT"})), b64(payload))
    };
    type Make = Box<dyn Fn(&str, &str) -> String>;
    let cases: Vec<(&str, Make, u16)> = vec![
        (
            "wrong-audience",
            Box::new(|iss, n| {
                forger::id_token(iss, n, forger::KEY_A, "a", |c| {
                    c.set_audiences(vec![Audience::new("another-app".into())])
                })
            }),
            401,
        ),
        ("unknown-key", Box::new(|iss, n| forger::id_token(iss, n, forger::KEY_B, "b", |c| c)), 401),
        ("bad-signature", Box::new(|iss, n| forger::id_token(iss, n, forger::KEY_B, "a", |c| c)), 401),
        (
            "expired",
            Box::new(|iss, n| {
                forger::id_token(iss, n, forger::KEY_A, "a", |c| {
                    let past = chrono::Utc::now() - chrono::TimeDelta::minutes(5);
                    c.set_expiration(past).set_issue_time(past - chrono::TimeDelta::minutes(5))
                })
            }),
            401,
        ),
        (
            "wrong-issuer",
            Box::new(|_, n| forger::id_token("https://elsewhere.example", n, forger::KEY_A, "a", |c| c)),
            401,
        ),
        ("nonce", Box::new(|iss, _| forger::id_token(iss, "not-the-nonce", forger::KEY_A, "a", |c| c)), 401),
        (
            "authorized-party",
            Box::new(|iss, n| {
                forger::id_token(iss, n, forger::KEY_A, "a", |c| {
                    c.set_authorized_party(Some(ClientId::new("another-app".into())))
                })
            }),
            401,
        ),
        ("algorithm", Box::new(move |_, n| none_token(n)), 401),
    ];
    // A token as it should be passes: the forger is a fair provider but for what each case changes.
    let good =
        forged_sign_in(&app.url, &forger, &|iss: &str, n: &str| forger::id_token(iss, n, forger::KEY_A, "a", |c| c))
            .await;
    assert_eq!(good.status().as_u16(), 303, "a right token signs in");
    // Clocks differ: a token that ended half a minute ago by our clock is still taken.
    let skewed = forged_sign_in(&app.url, &forger, &|iss: &str, n: &str| {
        forger::id_token(iss, n, forger::KEY_A, "a", |c| {
            c.set_expiration(chrono::Utc::now() - chrono::TimeDelta::seconds(30))
        })
    })
    .await;
    assert_eq!(skewed.status().as_u16(), 303, "a minute of clock skew is tolerated");
    for (reason, make, status) in &cases {
        let r = forged_sign_in(&app.url, &forger, make.as_ref()).await;
        assert_eq!(r.status().as_u16(), *status, "{reason}");
        let page = r.text().await.unwrap();
        assert!(page.contains("Sign-in refused") && page.contains("Sign in again"), "{reason}: {page}");
    }
    let audit = audit_lines(&app).await;
    for (reason, _, _) in &cases {
        assert!(audit.contains("sign-in.refused") && audit.contains(reason), "{reason} audited: {audit}");
    }
}
