//! Starting the server: metadata store, S3 (embedded or external), UI options, HTTP listener.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use leptos::prelude::LeptosOptions;
use tokio::net::TcpListener;

use crate::core::capabilities::ArtifactsOrigin;
use crate::core::{Parts, Settings, UploadSettings, Vitrine};
use crate::http::policy::HttpPolicy;
use crate::http::router::router;
use crate::http::state::{AppParts, AppState};
use crate::http::ui::UiService;
use crate::storage::embedded::{self, EmbeddedCredentials, LocalStore};
use crate::storage::{S3Settings, Storage, StoreGuarantees};
use vitrine_store::Db;

/// Everything `vitrine serve` needs, already parsed.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    pub public_url: Option<String>,
    pub embedded_s3_addr: SocketAddr,
    /// The URL clients reach the embedded store at. Default: the public URL when one is set
    /// (the app's listener serves the store's bucket path too), else the store's address.
    pub embedded_s3_url: Option<String>,
    /// Where the artifacts origin listens (HTML reports, SVG), and the URL browsers reach it at.
    pub artifacts_addr: SocketAddr,
    pub artifacts_url: Option<String>,
    /// Where Playwright's trace viewer listens, on an origin of its own, and the URL browsers
    /// reach it at; unused with per-build artifacts origins (a host name of its own there).
    pub trace_viewer_addr: SocketAddr,
    pub trace_viewer_url: Option<String>,
    /// An external S3 service; `None` starts the embedded one.
    pub s3: Option<S3Settings>,
    pub database_url: Option<String>,
    /// Connections kept to PostgreSQL.
    pub database_pool_size: u32,
    /// Load balancers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Who may read /metrics.
    pub metrics_allow: Vec<ipnet::IpNet>,
    pub site_root: PathBuf,
    pub uploads: UploadSettings,
    /// Sign-in through OpenID Connect providers (the callback URLs are made from the public URL).
    pub oidc: crate::identity::OidcSettings,
}

pub struct Running {
    pub addr: SocketAddr,
    pub public_url: String,
    pub s3_endpoint: Option<String>,
    pub artifacts_url: String,
    /// Where Playwright's trace viewer is served, when it is installed.
    pub trace_viewer_url: Option<String>,
    /// Ends when the listeners stopped (after [`Running::stop`]) and drained.
    pub server: tokio::task::JoinHandle<()>,
    /// Set to true to stop accepting connections and drain.
    pub stop: tokio::sync::watch::Sender<bool>,
    /// The application core the server runs (its sweeper can be driven with a moved clock).
    pub vitrine: crate::core::Vitrine,
}

/// The key that signs artifacts-origin capabilities, kept in the metadata store so that
/// every server of the installation accepts the others' links. A key an earlier version kept
/// in the data dir (`report-origin.key`) is taken over, so links handed out before still work.
async fn artifacts_origin_key(db: &Db, data_dir: &Path) -> anyhow::Result<Vec<u8>> {
    let fresh = match std::fs::read(data_dir.join("report-origin.key")) {
        Ok(key) if key.len() >= 32 => key,
        _ => fresh_key(),
    };
    let key = db.shared_key(ARTIFACTS_ORIGIN_KEY, &fresh).await.context("reading the artifacts-origin key")?;
    anyhow::ensure!(key.len() >= 32, "the artifacts-origin key in the metadata store is too short");
    Ok(key)
}

/// The host label of the trace viewer's own origin beside per-build artifacts origins
/// (`trace-viewer.artifacts.example` for `*.artifacts.example`): no build's label (`b42`).
pub const TRACE_VIEWER_LABEL: &str = "trace-viewer";

/// The name of the key that signs artifacts-origin capabilities, in the metadata store.
pub const ARTIFACTS_ORIGIN_KEY: &str = "artifacts-origin";
/// How often a server reads that key again (`vitrine admin capabilities rotate` replaces it).
pub const KEY_REFRESH: std::time::Duration = std::time::Duration::from_secs(2);

/// 32 random bytes.
pub fn fresh_key() -> Vec<u8> {
    let mut key = vec![0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut key);
    key
}

/// Reads the signing key again every [`KEY_REFRESH`]: a rotated key reaches every server.
fn spawn_key_refresh(db: Db, origin: ArtifactsOrigin) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(KEY_REFRESH);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            match db.read_shared_key(ARTIFACTS_ORIGIN_KEY).await {
                Ok(key) if key.len() >= 32 => {
                    if origin.set_key(key) {
                        tracing::info!("the artifacts-origin key was replaced: links signed before stop working");
                    }
                }
                Ok(_) => {
                    tracing::error!("the artifacts-origin key in the metadata store is too short; kept the old one");
                }
                Err(e) => tracing::warn!(error = %e, "cannot read the artifacts-origin key; kept the old one"),
            }
        }
    });
}

/// Where the site files are: `LEPTOS_SITE_ROOT`, else `site/` beside the binary's directory
/// (`target/release/vitrine` → `target/site`), else `target/site` under the working directory.
pub fn default_site_root() -> PathBuf {
    if let Ok(root) = std::env::var("LEPTOS_SITE_ROOT") {
        return root.into();
    }
    if let Some(dir) = std::env::current_exe().ok().and_then(|exe| exe.parent()?.parent().map(Path::to_path_buf)) {
        let candidate = dir.join("site");
        if candidate.join("pkg").is_dir() {
            return candidate;
        }
    }
    PathBuf::from("target/site")
}

/// The list of the site's hashed file names that `cargo leptos build` writes (with
/// `hash-files`), as an absolute path: in the site root (where scripts/build.sh copies it, so
/// a site folder is complete on its own), else beside the binary (where cargo-leptos leaves
/// it). `None`: the site's files have plain names.
fn hash_file(site_root: &Path) -> Option<PathBuf> {
    let beside_binary = std::env::current_exe().ok().and_then(|exe| Some(exe.parent()?.join("hash.txt")));
    [Some(site_root.join("hash.txt")), beside_binary]
        .into_iter()
        .flatten()
        .find(|file| file.is_file())
        .map(|file| std::path::absolute(&file).unwrap_or(file))
}

/// Opens the embedded store under `data_dir`, binds `addr` and serves it in the background
/// until `shutdown`; answers the store and its S3 service (which the app's listener serves
/// too, under the bucket's path).
pub async fn start_embedded_s3(
    data_dir: &std::path::Path,
    addr: SocketAddr,
    shutdown: crate::http::listen::ShutdownSignal,
) -> anyhow::Result<(vitrine_s3::EmbeddedS3, vitrine_s3::Service)> {
    let (store, listener, service) = vitrine_s3::open(data_dir, addr).await?;
    let served = service.clone();
    tokio::spawn(crate::http::listen::serve(listener, "embedded S3", shutdown, move |_| served.clone()));
    Ok((store, service))
}

/// The embedded store this server uses: its credentials, and when this server runs it (not
/// another `vitrine serve` on the same data dir), a local handle on it and its S3 service.
struct Embedded {
    credentials: EmbeddedCredentials,
    local: Option<(LocalStore, vitrine_s3::Service)>,
}

/// Starts the embedded store, or joins one that another `vitrine serve` on the same data dir
/// already runs at that address.
async fn embedded_store(cfg: &ServeConfig, shutdown: crate::http::listen::ShutdownSignal) -> anyhow::Result<Embedded> {
    match start_embedded_s3(&cfg.data_dir, cfg.embedded_s3_addr, shutdown).await {
        Ok((store, service)) => Ok(Embedded { credentials: store.credentials, local: Some((store.local, service)) }),
        Err(e) => {
            let in_use = e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::AddrInUse)
            });
            match embedded::read_env_file(&cfg.data_dir) {
                Some(creds) if in_use && creds.endpoint == format!("http://{}", cfg.embedded_s3_addr) => {
                    tracing::info!(endpoint = %creds.endpoint, "sharing the embedded S3 server of another vitrine serve");
                    Ok(Embedded { credentials: creds, local: None })
                }
                _ => Err(e),
            }
        }
    }
}

/// The S3 store a server uses.
struct Objects {
    storage: Storage,
    /// The embedded store's own address (what this server and tests use), when embedded.
    embedded_endpoint: Option<String>,
    /// The embedded store's S3 service, when this server runs it: the app's listener serves
    /// it under the bucket's path, so that one port (and one TLS certificate) serves both.
    embedded_service: Option<vitrine_s3::Service>,
}

/// The S3 store: the one configured, else the embedded one (started here, or another
/// `vitrine serve`'s on the same data dir). Signed URLs of the embedded store name
/// `--embedded-s3-url`, else the public URL (whose listener serves the store, when this
/// server runs it), else the store's own address.
async fn open_storage(
    cfg: &ServeConfig,
    public: Option<&url::Url>,
    shutdown: crate::http::listen::ShutdownSignal,
) -> anyhow::Result<Objects> {
    let (s3_settings, embedded_endpoint, local) = if let Some(s) = &cfg.s3 {
        (s.clone(), None, None)
    } else {
        let Embedded { credentials, local } = embedded_store(cfg, shutdown).await?;
        let mut settings = embedded::settings(&credentials);
        settings.public_endpoint = match (&cfg.embedded_s3_url, public, &local) {
            (Some(url), _, _) => Some(url.trim_end_matches('/').to_owned()),
            (None, Some(public), Some(_)) => Some(public.as_str().trim_end_matches('/').to_owned()),
            (None, Some(public), None) => Some(crate::urls::beside(public, cfg.embedded_s3_addr.port())),
            (None, None, _) => None,
        };
        (settings, Some(credentials.endpoint), local)
    };
    let (local, embedded_service) = local.unzip();
    let storage = Storage::connect(&s3_settings).await?.with_local(local);
    storage
        .ensure_bucket()
        .await
        .with_context(|| format!("cannot use S3 bucket `{}` ({:?})", s3_settings.bucket, s3_settings.endpoint))?;
    Ok(Objects { storage, embedded_endpoint, embedded_service })
}

/// What the S3 store proves it enforces (probed, unless verification by copy is asked
/// for), and the upload settings for it.
async fn uploads_on(cfg: &ServeConfig, storage: &Storage) -> (StoreGuarantees, UploadSettings) {
    let guarantees = if cfg.uploads.verify_by_copy { StoreGuarantees::default() } else { storage.probe().await };
    if !guarantees.checked_puts || !guarantees.whole_multipart_sha256 {
        tracing::warn!(
            ?guarantees,
            "the S3 store does not prove every upload's content: those uploads are verified by copying and reading them"
        );
    }
    let mut uploads = cfg.uploads.clone();
    // The embedded store writes a multipart object twice (parts, then the whole); one PUT of
    // up to the artifact limit writes it once.
    let by_store = if cfg.s3.is_none() { 0 } else { vitrine_wire::agent::PART_SIZE };
    uploads.part_size = Some(uploads.part_size.unwrap_or(by_store));
    (guarantees, uploads)
}

/// Playwright's trace viewer, copied from the playwright-core package by scripts/build.sh,
/// when installed: on an origin of its own, a host name of its own beside per-build origins
/// (no listener of its own), else a port (its listener).
async fn trace_viewer(
    cfg: &ServeConfig,
    public: Option<&url::Url>,
    artifacts_origin: &ArtifactsOrigin,
) -> anyhow::Result<(Option<PathBuf>, Option<TcpListener>)> {
    let Some(dir) = Some(cfg.site_root.join("trace-viewer")).filter(|dir| dir.join("index.html").is_file()) else {
        return Ok((None, None));
    };
    if artifacts_origin.per_build() {
        artifacts_origin.set_trace_viewer(&artifacts_origin.origin_of_label(TRACE_VIEWER_LABEL));
        return Ok((Some(dir), None));
    }
    let listener = TcpListener::bind(cfg.trace_viewer_addr)
        .await
        .with_context(|| format!("cannot listen on {} for the trace viewer", cfg.trace_viewer_addr))?;
    let url = listener_url(cfg.trace_viewer_url.as_deref(), public, &listener);
    artifacts_origin.set_trace_viewer(crate::urls::origin_of(&url));
    Ok((Some(dir), Some(listener)))
}

/// Serves the artifacts origin, and the trace viewer: on a listener of its own, or under its
/// host name on the artifacts origin's.
fn serve_artifacts_origin(
    vitrine: &Vitrine,
    listener: TcpListener,
    trace_viewer: Option<PathBuf>,
    trace_listener: Option<TcpListener>,
    stopped: &crate::http::listen::ShutdownSignal,
) -> tokio::task::JoinHandle<()> {
    let app = match (trace_viewer, trace_listener) {
        (Some(dir), Some(trace_listener)) => {
            let trace_app = crate::http::artifacts_origin::trace_viewer(dir, None);
            let serve =
                crate::http::listen::serve(trace_listener, "trace viewer", stopped.clone(), move |_| trace_app.clone());
            tokio::spawn(serve);
            crate::http::artifacts_origin::router(vitrine.clone(), None)
        }
        (Some(dir), None) => {
            let host = crate::urls::authority_of(&vitrine.capabilities().origin_of_label(TRACE_VIEWER_LABEL));
            crate::http::artifacts_origin::router(vitrine.clone(), Some((dir, Some(host))))
        }
        (None, _) => crate::http::artifacts_origin::router(vitrine.clone(), None),
    };
    tokio::spawn(crate::http::listen::serve(listener, "artifacts origin", stopped.clone(), move |_| app.clone()))
}

/// Where the app's site is, and its bundle's hashed names when built with them.
fn leptos_options(site_root: &Path, addr: SocketAddr) -> LeptosOptions {
    let hash_file = hash_file(site_root);
    LeptosOptions::builder()
        .output_name("vitrine")
        .site_root(site_root.to_string_lossy().into_owned())
        .site_pkg_dir("pkg")
        .site_addr(addr)
        .hash_files(hash_file.is_some())
        .hash_file(hash_file.map_or_else(|| "hash.txt".into(), |f| f.to_string_lossy().into()))
        .build()
}

/// The URL clients reach a listener at: the one given, else the public URL's scheme and host
/// with the listener's port, else the listener's own address.
fn listener_url(given: Option<&str>, public: Option<&url::Url>, listener: &TcpListener) -> String {
    let bound = listener.local_addr().expect("bound");
    match (given, public) {
        (Some(url), _) => url.trim_end_matches('/').to_owned(),
        (None, Some(public)) => crate::urls::beside(public, bound.port()),
        (None, None) => format!("http://{bound}"),
    }
}

/// Serves the app: its routes, with each request's peer address for the handlers that need
/// it (sign-in limits); and the embedded store's bucket path, when this server runs the store.
fn serve_app(
    listener: TcpListener,
    state: AppState,
    embedded_s3: Option<vitrine_s3::Service>,
    stopped: crate::http::listen::ShutdownSignal,
) -> tokio::task::JoinHandle<()> {
    let app = router(state);
    let embedded_s3 = embedded_s3.map(std::sync::Arc::new);
    tokio::spawn(crate::http::listen::serve(listener, "app", stopped, move |peer| {
        crate::http::one_port::OnePort::new(app.clone(), embedded_s3.clone(), peer)
    }))
}

/// Opens the stores, binds the listeners, wires the core and the HTTP app, and serves until
/// [`Running::stop`].
pub async fn start(cfg: ServeConfig) -> anyhow::Result<Running> {
    // Boxed: starting holds many stores' and listeners' futures at once, and callers that
    // await it among other work would carry all of that inline.
    Box::pin(start_serving(cfg)).await
}

async fn start_serving(cfg: ServeConfig) -> anyhow::Result<Running> {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("cannot create the data dir {}", cfg.data_dir.display()))?;
    let db = Db::open(&cfg.data_dir, cfg.database_url.as_deref(), cfg.database_pool_size)
        .await
        .context("opening the metadata database")?;
    let public = cfg.public_url.as_deref().map(parse_public_url).transpose()?;
    let Objects { storage, embedded_endpoint, embedded_service } =
        open_storage(&cfg, public.as_ref(), stopped.clone()).await?;

    let listener = TcpListener::bind(cfg.addr).await.with_context(|| format!("cannot listen on {}", cfg.addr))?;
    let addr = listener.local_addr()?;
    let public_url = match &public {
        Some(public) => public.as_str().trim_end_matches('/').to_owned(),
        None => format!("http://{addr}"),
    };
    let artifacts_listener = TcpListener::bind(cfg.artifacts_addr)
        .await
        .with_context(|| format!("cannot listen on {} for the artifacts origin", cfg.artifacts_addr))?;
    let artifacts_url = listener_url(cfg.artifacts_url.as_deref(), public.as_ref(), &artifacts_listener);
    let artifacts_origin = ArtifactsOrigin::new(artifacts_origin_key(&db, &cfg.data_dir).await?, &artifacts_url)?;
    spawn_key_refresh(db.clone(), artifacts_origin.clone());

    let (guarantees, uploads) = uploads_on(&cfg, &storage).await;
    // Where signed URLs lead: the origin of one, signed for no object in particular.
    let sample = storage.presign_get("-", "text/plain", None, std::time::Duration::from_secs(1)).await?;
    let media_origins =
        vec![crate::urls::origin_of(&sample).to_owned(), crate::urls::origin_of(&artifacts_url).to_owned()];
    let (trace_viewer, trace_listener) = trace_viewer(&cfg, public.as_ref(), &artifacts_origin).await?;
    let settings = Settings { public_url: public_url.clone(), uploads, trace_viewer: trace_viewer.is_some() };
    let providers = crate::identity::Providers::new(crate::identity::OidcSettings {
        redirect_url: format!("{public_url}/auth/oidc/callback"),
        after_logout_url: format!("{public_url}/login"),
        ..cfg.oidc.clone()
    })?;
    let sign_in_origins = providers.all().iter().map(|p| crate::urls::origin_of(&p.issuer).to_owned()).collect();
    let vitrine = Vitrine::new(Parts { db, storage, guarantees, settings, capabilities: artifacts_origin, providers });
    vitrine.sweeper().spawn();
    crate::observe::metrics();
    crate::observe::spawn_upkeep();
    let artifacts_origin_served =
        serve_artifacts_origin(&vitrine, artifacts_listener, trace_viewer, trace_listener, &stopped);
    let policy = HttpPolicy {
        https: public_url.starts_with("https://"),
        trusted_proxies: cfg.trusted_proxies.clone(),
        metrics_allow: cfg.metrics_allow.clone(),
        media_origins,
        sign_in_origins,
    };
    let ui = UiService::shared(vitrine.clone(), policy.clone());
    let leptos_options = leptos_options(&cfg.site_root, addr);
    let state = AppState::new(AppParts { vitrine: vitrine.clone(), policy, leptos_options, ui });
    let app_served = serve_app(listener, state, embedded_service, stopped);
    let server = tokio::spawn(async move {
        let _ = tokio::join!(app_served, artifacts_origin_served);
    });
    tracing::info!(%public_url, "vitrine is serving");
    let trace_viewer_url = vitrine.capabilities().trace_viewer();
    Ok(Running {
        addr,
        public_url,
        s3_endpoint: embedded_endpoint,
        artifacts_url,
        trace_viewer_url,
        server,
        stop,
        vitrine,
    })
}

/// `--public-url`: an http or https URL with a host, at the root of it (the app's routes and
/// the embedded store's bucket path are at the root).
fn parse_public_url(text: &str) -> anyhow::Result<url::Url> {
    let url: url::Url = text.parse().with_context(|| format!("--public-url `{text}` is not a URL"))?;
    anyhow::ensure!(
        matches!(url.scheme(), "http" | "https") && url.host().is_some(),
        "--public-url `{text}`: give an http:// or https:// URL with a host name or address"
    );
    anyhow::ensure!(
        url.path() == "/" && url.query().is_none(),
        "--public-url `{text}`: Vitrine is served at the root of its host; give the URL without a path"
    );
    Ok(url)
}
