use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;
pub use vitrine::core::UploadSettings;
use vitrine::serve::{Running, ServeConfig, start};

pub const BIN: &str = env!("CARGO_BIN_EXE_vitrine");

/// A server of our own: fresh data dir, its own ports, embedded S3.
pub struct TestApp {
    pub url: String,
    pub data: TempDir,
    /// A client that does not follow redirects, so the 302s can be checked.
    pub http: reqwest::Client,
    pub running: Running,
    /// The PostgreSQL database of this server, when the suite runs on PostgreSQL
    /// (`VITRINE_TEST_POSTGRES`); `None`: SQLite in the data dir.
    pub database_url: Option<String>,
}

/// A server's configuration for tests: data in `data_dir`, free ports on 127.0.0.1, the
/// embedded S3 store and SQLite unless the test says otherwise.
pub fn test_config(data_dir: &Path, uploads: UploadSettings) -> ServeConfig {
    ServeConfig {
        oidc: vitrine::identity::OidcSettings::none(),
        addr: "127.0.0.1:0".parse().unwrap(),
        data_dir: data_dir.to_path_buf(),
        public_url: None,
        embedded_s3_addr: "127.0.0.1:0".parse().unwrap(),
        embedded_s3_url: None,
        artifacts_addr: "127.0.0.1:0".parse().unwrap(),
        artifacts_url: None,
        trace_viewer_addr: "127.0.0.1:0".parse().unwrap(),
        trace_viewer_url: None,
        s3: test_s3(),
        database_url: None,
        database_pool_size: 4,
        trusted_proxies: Vec::new(),
        metrics_allow: vec!["127.0.0.0/8".parse().unwrap()],
        site_root: data_dir.join("site"),
        uploads,
    }
}

/// The S3 service a test's server uses: when `VITRINE_TEST_S3` names one (an endpoint taking
/// the keys `testing`/`testing`, as moto's server does), a fresh bucket of the test's own
/// there; otherwise `None`, the server's embedded store.
pub fn test_s3() -> Option<vitrine::storage::S3Settings> {
    let endpoint = std::env::var("VITRINE_TEST_S3").ok().filter(|e| !e.is_empty())?;
    Some(vitrine::storage::S3Settings {
        endpoint: Some(endpoint),
        bucket: format!("vitrine-{}", uuid::Uuid::new_v4().simple()),
        region: "us-east-1".into(),
        credentials: Some(("testing".into(), "testing".into())),
        path_style: true,
        public_endpoint: None,
    })
}

/// A fresh, empty PostgreSQL database for one test when `VITRINE_TEST_POSTGRES` names a
/// server (a URL whose user may create databases); `None` otherwise (the test uses SQLite).
pub async fn test_database() -> Option<String> {
    use sqlx::Connection;
    let admin = std::env::var("VITRINE_TEST_POSTGRES").ok().filter(|u| !u.is_empty())?;
    let name = format!("vitrine_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&admin).await.expect("VITRINE_TEST_POSTGRES is reachable");
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.expect("create a test database");
    conn.close().await.ok();
    let (base, _) = admin.rsplit_once('/').expect("VITRINE_TEST_POSTGRES ends with /<database>");
    Some(format!("{base}/{name}"))
}

/// Credentials set up by [`TestApp::with_projects`].
pub struct Fixture {
    pub app: TestApp,
    /// Build token of the public project gh/acme/public-site.
    pub public_build_token: String,
    /// Build token of the private project gh/acme/secret.
    pub private_build_token: String,
    /// API token of alice, member of gh/acme/secret.
    pub member_token: String,
    /// API token of bob, member of nothing.
    pub outsider_token: String,
}

pub fn last_line(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or_default().trim().to_owned()
}

impl TestApp {
    pub async fn start() -> TestApp {
        TestApp::start_with(UploadSettings::default()).await
    }

    /// A server with its own upload limits and timings.
    pub async fn start_with(uploads: UploadSettings) -> TestApp {
        TestApp::start_on(uploads, test_database().await).await
    }

    /// A server on the given metadata store (`None`: SQLite in its data dir).
    pub async fn start_on(uploads: UploadSettings, database_url: Option<String>) -> TestApp {
        TestApp::start_configured(uploads, database_url, |config| config).await
    }

    /// [`TestApp::start_on`] with changes to the server's configuration.
    pub async fn start_configured(
        uploads: UploadSettings,
        database_url: Option<String>,
        configure: impl FnOnce(ServeConfig) -> ServeConfig,
    ) -> TestApp {
        let data = tempfile::tempdir().unwrap();
        let config = configure(ServeConfig { database_url: database_url.clone(), ..test_config(data.path(), uploads) });
        let running = start(config).await.expect("server starts");
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        TestApp { url: running.public_url.clone(), data, http, running, database_url }
    }

    /// A server with a public and a private project, two users and their tokens.
    pub async fn with_projects() -> Fixture {
        TestApp::with_projects_and(UploadSettings::default()).await
    }

    /// [`TestApp::with_projects`] with its own upload limits and timings.
    pub async fn with_projects_and(uploads: UploadSettings) -> Fixture {
        TestApp::with_projects_on(uploads, test_database().await).await
    }

    /// [`TestApp::with_projects`] on the given metadata store (`None`: SQLite).
    pub async fn with_projects_on(uploads: UploadSettings, database_url: Option<String>) -> Fixture {
        TestApp::with_projects_configured(uploads, database_url, |config| config).await
    }

    /// [`TestApp::with_projects_on`] with changes to the server's configuration.
    pub async fn with_projects_configured(
        uploads: UploadSettings,
        database_url: Option<String>,
        configure: impl FnOnce(ServeConfig) -> ServeConfig,
    ) -> Fixture {
        let app = TestApp::start_configured(uploads, database_url, configure).await;
        app.admin(&["project", "add", "gh/acme/public-site", "--public"]).await;
        app.admin(&["project", "add", "gh/acme/secret"]).await;
        app.admin_stdin(&["user", "add", "alice", "--password-stdin"], "alice-password\n").await;
        app.admin_stdin(&["user", "add", "bob", "--password-stdin"], "bob-password\n").await;
        app.admin(&["member", "add", "gh/acme/secret", "alice"]).await;
        let public_build_token = last_line(&app.admin(&["project", "token", "gh/acme/public-site"]).await);
        let private_build_token = last_line(&app.admin(&["project", "token", "gh/acme/secret"]).await);
        let member_token = last_line(&app.admin(&["token", "create", "alice"]).await);
        let outsider_token = last_line(&app.admin(&["token", "create", "bob"]).await);
        Fixture { app, public_build_token, private_build_token, member_token, outsider_token }
    }

    pub fn data_dir(&self) -> &Path {
        self.data.path()
    }

    /// A second server beside this one: its own data dir and ports, on `database_url` (by
    /// default this server's metadata store) and this server's embedded S3 store.
    pub async fn beside(&self, database_url: Option<String>, uploads: UploadSettings) -> (TempDir, Running) {
        let data = tempfile::tempdir().unwrap();
        let database_url = database_url
            .or_else(|| self.database_url.clone())
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir().join("vitrine.db").display()));
        let s3 = vitrine::storage::embedded::settings(
            &vitrine::storage::embedded::read_env_file(self.data_dir()).expect("an embedded store"),
        );
        let running =
            start(ServeConfig { s3: Some(s3), database_url: Some(database_url), ..test_config(data.path(), uploads) })
                .await
                .expect("a second server starts on this one's stores");
        (data, running)
    }

    /// The metadata store this server uses, opened on the side.
    pub async fn db(&self) -> vitrine_store::Db {
        vitrine_store::Db::open(self.data_dir(), self.database_url.as_deref(), 2).await.unwrap()
    }

    pub async fn admin_stdin(&self, args: &[&str], stdin: &str) -> Output {
        use tokio::io::AsyncWriteExt;
        let mut child = tokio::process::Command::new(BIN)
            .arg("admin")
            .arg("--data-dir")
            .arg(self.data_dir())
            .args(self.database_url.iter().flat_map(|url| ["--database-url", url.as_str()]))
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).await.unwrap();
        let out = child.wait_with_output().await.unwrap();
        assert!(out.status.success(), "vitrine admin {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        out
    }

    pub async fn admin(&self, args: &[&str]) -> Output {
        self.admin_stdin(args, "").await
    }

    /// Runs the `vitrine` binary against this server, in `cwd`.
    pub async fn vitrine(&self, cwd: &Path, args: &[&str], envs: &[(&str, &str)]) -> Output {
        tokio::process::Command::new(BIN)
            .args(args)
            .current_dir(cwd)
            .env_remove("VITRINE_URL")
            .env_remove("VITRINE_TOKEN")
            .env_remove("VITRINE_PROJECT")
            .env_remove("CIRCLE_BUILD_NUM")
            .env_remove("CIRCLE_NODE_INDEX")
            .env_remove("CIRCLE_BRANCH")
            .envs(envs.iter().copied())
            .output()
            .await
            .unwrap()
    }

    /// An agent command (`run`, `execute`, ...) against this server with a project's token.
    pub async fn agent(
        &self,
        cwd: &Path,
        token: &str,
        project: &str,
        command: &str,
        args: &[&str],
        envs: &[(&str, &str)],
    ) -> Output {
        let mut all = vec![command, "--server", self.url.as_str(), "--token", token, "--project", project];
        all.extend_from_slice(args);
        self.vitrine(cwd, &all, envs).await
    }

    /// `vitrine run` for a project, with the given branch and shell script.
    pub async fn run_build(&self, token: &str, project: &str, branch: &str, script: &str) -> Output {
        let cwd = tempfile::tempdir().unwrap();
        self.agent(cwd.path(), token, project, "run", &["--branch", branch, "--", "bash", "-ec", script], &[]).await
    }

    /// Signs in as the browser's login form does; answers the session cookie (`name=value`).
    pub async fn sign_in(&self, user: &str, password: &str) -> String {
        let form = [("username", user), ("password", password), ("next", "")];
        let r = self.http.post(format!("{}/api/login", self.url)).form(&form).send().await.unwrap();
        r.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned()
    }

    /// A server function called as the page calls it, with a session cookie or none: its
    /// status and answer. `args` is the function's argument struct, sent in postcard as the
    /// page sends it; the answer, postcard too (`vitrine_app::api::Wire`), is decoded as the
    /// page does, into the endpoint's type (or, on an error status, a `UiError`), and given
    /// back as JSON for the tests to read by field names.
    pub async fn server_fn(
        &self,
        endpoint: &str,
        cookie: Option<&str>,
        args: &impl serde::Serialize,
    ) -> (u16, serde_json::Value) {
        server_fn(&self.http, &self.url, endpoint, cookie, args).await
    }

    /// A GET as the browser sends it with a session cookie.
    pub async fn get_with_cookie(&self, path: &str, cookie: &str) -> reqwest::Response {
        self.http.get(format!("{}{path}", self.url)).header("Cookie", cookie).send().await.unwrap()
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut req = self.http.get(format!("{}{path}", self.url));
        if let Some(t) = token {
            req = req.header("Circle-Token", t);
        }
        req.send().await.unwrap()
    }

    pub async fn get_json(&self, path: &str, token: Option<&str>) -> (u16, serde_json::Value) {
        let r = self.get(path, token).await;
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// Follows an artifact route's redirect to storage and returns the bytes and content type.
    pub async fn download(&self, url: &str, token: Option<&str>) -> (String, Vec<u8>) {
        let mut req = self.http.get(url);
        if let Some(t) = token {
            req = req.header("Circle-Token", t);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status().as_u16(), 302, "artifact route answers a redirect for {url}");
        let location = r.headers()["location"].to_str().unwrap().to_owned();
        let stored = reqwest::get(&location).await.unwrap();
        assert_eq!(stored.status().as_u16(), 200, "signed URL works: {location}");
        let ct = stored.headers()["content-type"].to_str().unwrap().to_owned();
        (ct, stored.bytes().await.unwrap().to_vec())
    }
}

/// The JSON a GET of `url` answers with an API token (for servers other than a `TestApp`'s).
pub async fn json_at(http: &reqwest::Client, url: &str, token: &str) -> serde_json::Value {
    http.get(url).header("Circle-Token", token).send().await.unwrap().json().await.unwrap()
}

/// The lines of a page of the Artifacts tab (`browse`): `name/ count` for a folder, the file
/// name for a file.
pub fn names(page: &serde_json::Value) -> Vec<String> {
    use serde_json::Value;
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

/// A call of the agent API, as the agent makes it: its status and JSON answer.
pub async fn agent_call(f: &Fixture, token: &str, path: &str, body: Value) -> (u16, Value) {
    let r = f
        .app
        .http
        .post(format!("{}{path}", f.app.url))
        .header("Circle-Token", token)
        .header(vitrine_wire::agent::PROTOCOL_HEADER, vitrine_wire::agent::PROTOCOL_VERSION.to_string())
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asks `check` until it holds, for at most [`FRESH_FOR`](vitrine::core::lookups::FRESH_FOR)
/// and a second of slack: a change made at the command line or on another server reaches a
/// server's caches within that (the promise: 5 seconds). Answers how long it took.
pub async fn within_fresh_for<F, Fut>(what: &str, mut check: F) -> std::time::Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    use std::time::Duration;
    let start = std::time::Instant::now();
    loop {
        if check().await {
            return start.elapsed();
        }
        let waited = start.elapsed();
        let limit = vitrine::core::lookups::FRESH_FOR + Duration::from_secs(1);
        assert!(waited < limit, "{what}: still not so after {waited:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn assert_ok(out: &Output) {
    assert!(out.status.success(), "command failed: {}\n{}", stderr(out), String::from_utf8_lossy(&out.stdout));
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `vitrine serve` as its own process, so it can be killed.
pub struct ServerProcess {
    pub args: Vec<String>,
    pub database_url: Option<String>,
    pub url: String,
    pub child: tokio::process::Child,
}

impl ServerProcess {
    pub async fn start(data: &Path, database_url: Option<String>) -> ServerProcess {
        let (port, s3, artifacts) = (free_port(), free_port(), free_port());
        let args = vec![
            "serve".to_owned(),
            "--addr".to_owned(),
            format!("127.0.0.1:{port}"),
            "--embedded-s3-addr".to_owned(),
            format!("127.0.0.1:{s3}"),
            "--artifacts-addr".to_owned(),
            format!("127.0.0.1:{artifacts}"),
            "--trace-viewer-addr".to_owned(),
            "127.0.0.1:0".to_owned(),
            "--data-dir".to_owned(),
            data.display().to_string(),
        ];
        let child = spawn_server(&args, database_url.as_deref());
        let server = ServerProcess { args, database_url, url: format!("http://127.0.0.1:{port}"), child };
        server.wait_ready().await;
        server
    }

    pub async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if reqwest::get(format!("{}/healthz", self.url)).await.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("vitrine serve did not come up at {}", self.url);
    }

    pub async fn kill_and_restart(&mut self, down_for: Duration) {
        self.child.start_kill().unwrap(); // SIGKILL
        self.child.wait().await.unwrap();
        tokio::time::sleep(down_for).await;
        self.child = spawn_server(&self.args, self.database_url.as_deref());
        self.wait_ready().await;
    }
}

pub fn spawn_server(args: &[String], database_url: Option<&str>) -> tokio::process::Child {
    tokio::process::Command::new(BIN)
        .args(args)
        .args(database_url.iter().flat_map(|url| ["--database-url", url]))
        .env("VITRINE_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

/// A page's HTML as a reader sees it: without the empty comments (`<!>`) that server rendering
/// leaves between a view's parts for hydration to find them.
pub fn markup(html: &str) -> String {
    html.replace("<!>", "")
}

/// The build page's server function's arguments, for build `build_num` of `gh/acme/{repo}`.
pub fn build_page_args(repo: &str, build_num: i64) -> vitrine_app::api::GetBuildPage {
    vitrine_app::api::GetBuildPage {
        vcs: "gh".into(),
        org: "acme".into(),
        repo: repo.into(),
        build_num: build_num.to_string(),
    }
}

/// The Artifacts tab's arguments for a folder page of container `node` of build 1 of
/// `gh/acme/{repo}`.
pub fn browse_args(
    repo: &str,
    node: i64,
    folder: &str,
    filter: &str,
    after: &str,
) -> vitrine_app::api::BrowseArtifacts {
    let at = vitrine_app::api::BrowseRequest {
        vcs: "gh".into(),
        org: "acme".into(),
        repo: repo.into(),
        build_num: "1".into(),
        node,
        folder: folder.into(),
        filter: filter.into(),
        after: after.into(),
    };
    vitrine_app::api::BrowseArtifacts { at }
}

/// The Artifacts tab's arguments for opening `path` of container 0 of build `build_num` of
/// `gh/acme/{repo}`.
pub fn file_args(repo: &str, build_num: i64, path: &str) -> vitrine_app::api::OpenArtifact {
    let at = vitrine_app::api::FileRequest {
        vcs: "gh".into(),
        org: "acme".into(),
        repo: repo.into(),
        build_num: build_num.to_string(),
        node: 0,
        path: path.into(),
    };
    vitrine_app::api::OpenArtifact { at }
}

/// [`TestApp::server_fn`] against any server at `url`.
pub async fn server_fn(
    http: &reqwest::Client,
    url: &str,
    endpoint: &str,
    cookie: Option<&str>,
    args: &impl serde::Serialize,
) -> (u16, serde_json::Value) {
    use vitrine_app::api::{BuildPageData, FileView, FolderView, GalleryPage, UiError};
    fn decode<T: serde::de::DeserializeOwned + serde::Serialize>(bytes: &[u8]) -> serde_json::Value {
        let value: T = postcard::from_bytes(bytes)
            .unwrap_or_else(|e| panic!("a server function's answer is not its type in postcard: {e}"));
        serde_json::to_value(value).unwrap()
    }
    let body = postcard::to_allocvec(args).unwrap();
    let mut req =
        http.post(format!("{url}/api/{endpoint}")).header("Content-Type", "application/x-postcard").body(body);
    if let Some(cookie) = cookie {
        req = req.header("Cookie", cookie);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let bytes = r.bytes().await.unwrap();
    let value = match (status, endpoint) {
        (_, _) if bytes.is_empty() => serde_json::Value::Null,
        (200, "browse") => decode::<FolderView>(&bytes),
        (200, "file") => decode::<FileView>(&bytes),
        (200, "build") => decode::<BuildPageData>(&bytes),
        (200, "gallery") => decode::<GalleryPage>(&bytes),
        (200, other) => panic!("no answer type for the server function `{other}`: add it here"),
        _ => decode::<UiError>(&bytes),
    };
    (status, value)
}
