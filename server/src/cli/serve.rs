use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use crate::serve::{ServeConfig, default_site_root, start};
use vitrine_agent::duration::parse_duration;

use crate::core::UploadSettings;
use crate::storage::S3Settings;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "VITRINE_ADDR", default_value = "127.0.0.1:3000")]
    pub addr: SocketAddr,
    /// Where SQLite and the embedded S3 store keep their files.
    #[arg(long, env = "VITRINE_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// The URL people and build machines reach this server at (default: http://ADDR). Every
    /// URL the server hands out names its host: the embedded store is served under it too,
    /// and the artifacts origin and trace viewer at its host with their own ports.
    #[arg(long, env = "VITRINE_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Address of the embedded S3 server, used when no --s3-endpoint is given.
    #[arg(long, env = "VITRINE_EMBEDDED_S3_ADDR", default_value = "127.0.0.1:3900")]
    pub embedded_s3_addr: SocketAddr,
    /// The URL clients reach the embedded S3 server at (default: the public URL, whose
    /// listener serves the store's bucket path; without --public-url, http://EMBEDDED_S3_ADDR).
    #[arg(long, env = "VITRINE_EMBEDDED_S3_URL")]
    pub embedded_s3_url: Option<String>,
    /// Address of the artifacts origin, which serves HTML reports apart from the app.
    #[arg(long, env = "VITRINE_ARTIFACTS_ADDR", default_value = "127.0.0.1:3001")]
    pub artifacts_addr: SocketAddr,
    /// The URL browsers reach the artifacts origin at (default: the public URL's host with
    /// ARTIFACTS_ADDR's port; without --public-url, http://ARTIFACTS_ADDR).
    #[arg(long, env = "VITRINE_ARTIFACTS_URL")]
    pub artifacts_url: Option<String>,
    /// Address of Playwright's trace viewer, an origin of its own (trusted code beside no
    /// untrusted page). Not used when the artifacts URL has a `*`: the viewer then has a host
    /// name of its own there (`trace-viewer.` in place of the `*`).
    #[arg(long, env = "VITRINE_TRACE_VIEWER_ADDR", default_value = "127.0.0.1:3002")]
    pub trace_viewer_addr: SocketAddr,
    /// The URL browsers reach the trace viewer at (default: the public URL's host with
    /// TRACE_VIEWER_ADDR's port; without --public-url, http://TRACE_VIEWER_ADDR).
    #[arg(long, env = "VITRINE_TRACE_VIEWER_URL")]
    pub trace_viewer_url: Option<String>,
    /// An S3 service to use instead of the embedded one.
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    pub s3_endpoint: Option<String>,
    #[arg(long, env = "VITRINE_S3_BUCKET", default_value = "vitrine")]
    pub s3_bucket: String,
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
    pub s3_region: String,
    /// Address buckets as https://endpoint/bucket (needed by most S3-compatible stores).
    #[arg(long, env = "VITRINE_S3_PATH_STYLE", default_value_t = true, action = clap::ArgAction::Set)]
    pub s3_path_style: bool,
    /// The S3 endpoint put in signed URLs, when browsers and agents reach the store by
    /// another name than this server does (e.g. https://s3.example.com while the server uses
    /// http://minio.internal:9000). Default: the endpoint itself.
    #[arg(long, env = "VITRINE_S3_PUBLIC_ENDPOINT")]
    pub s3_public_endpoint: Option<String>,
    /// Metadata database (default: SQLite in the data dir).
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// Load balancers or proxies in front of this server (addresses or CIDR blocks, comma
    /// separated): only their `X-Forwarded-For` is believed for the client's address.
    #[arg(long, env = "VITRINE_TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_net)]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Who may read /metrics (addresses or CIDR blocks, comma separated; the client's address
    /// as read through --trusted-proxies).
    #[arg(long, env = "VITRINE_METRICS_ALLOW", value_delimiter = ',', value_parser = parse_net,
          default_value = "127.0.0.0/8,::1/128")]
    pub metrics_allow: Vec<ipnet::IpNet>,
    /// How log lines are written: `text` for people, `json` (one object per line) for log
    /// pipelines. `VITRINE_LOG` picks what is logged (default: info).
    #[arg(long, env = "VITRINE_LOG_FORMAT", value_enum, default_value_t)]
    pub log_format: crate::observe::LogFormat,
    /// Connections kept to PostgreSQL (per server).
    #[arg(long, env = "VITRINE_DATABASE_POOL_SIZE", default_value_t = vitrine_store::DEFAULT_POOL_SIZE)]
    pub database_pool_size: u32,
    /// How long upload URLs handed to agents work (e.g. 30m, 1h).
    #[arg(long, env = "VITRINE_UPLOAD_URL_TTL", default_value = "1h", value_parser = parse_duration)]
    pub upload_url_ttl: Duration,
    /// Artifacts one build may hold.
    #[arg(long, env = "VITRINE_MAX_BUILD_ARTIFACTS", default_value_t = 100_000)]
    pub max_build_artifacts: i64,
    /// A build whose nodes have not all finished this long after it started is closed as timedout.
    #[arg(long, env = "VITRINE_BUILD_TIMEOUT", default_value = "24h", value_parser = parse_duration)]
    pub build_timeout: Duration,
    /// How long artifacts are kept (a project may set its own with `vitrine admin project
    /// retention`). The latest successful build of each branch and pinned builds are kept.
    #[arg(long, env = "VITRINE_ARTIFACT_RETENTION", default_value = "30d", value_parser = parse_duration)]
    pub artifact_retention: Duration,
    /// Verify every upload by copying and hashing it, even on a store that checks what it is sent.
    #[arg(long, env = "VITRINE_VERIFY_BY_COPY")]
    pub verify_by_copy: bool,
    #[command(flatten)]
    pub oidc: super::oidc_args::OidcArgs,
}

/// Files the server creates (database, objects, keys, logs) are readable by its own user only.
pub fn private_files() {
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
}

pub async fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    private_files();
    let installation = Installation {
        everywhere: [args.addr, args.artifacts_addr, args.embedded_s3_addr].iter().any(|a| a.ip().is_unspecified()),
        data_dir: args.data_dir.clone(),
        database_url: args.database_url.is_some(),
    };
    let s3 = args.s3_endpoint.clone().map(|endpoint| S3Settings {
        endpoint: Some(endpoint),
        bucket: args.s3_bucket.clone(),
        region: args.s3_region.clone(),
        credentials: None,
        path_style: args.s3_path_style,
        public_endpoint: args.s3_public_endpoint.clone(),
    });
    let config = ServeConfig {
        oidc: args.oidc.settings()?,
        addr: args.addr,
        data_dir: args.data_dir,
        public_url: args.public_url,
        embedded_s3_addr: args.embedded_s3_addr,
        embedded_s3_url: args.embedded_s3_url,
        artifacts_addr: args.artifacts_addr,
        artifacts_url: args.artifacts_url,
        trace_viewer_addr: args.trace_viewer_addr,
        trace_viewer_url: args.trace_viewer_url,
        s3,
        database_url: args.database_url,
        database_pool_size: args.database_pool_size,
        trusted_proxies: args.trusted_proxies.clone(),
        metrics_allow: args.metrics_allow.clone(),
        site_root: default_site_root(),
        uploads: UploadSettings {
            url_ttl: args.upload_url_ttl,
            max_build_artifacts: args.max_build_artifacts,
            build_timeout: args.build_timeout,
            artifact_retention: args.artifact_retention,
            verify_by_copy: args.verify_by_copy,
            ..UploadSettings::default()
        },
    };
    // What the server says of itself: plain lines for people, log events in JSON mode (so
    // that every line a log pipeline reads is one JSON object).
    let json = args.log_format == crate::observe::LogFormat::Json;
    let say = |line: String| {
        if json {
            tracing::info!("{line}");
        } else {
            eprintln!("{line}");
        }
    };
    let running = start(config).await?;
    first_start(&running, &installation, &say).await?;
    say(format!("Vitrine is serving at {}", running.public_url));
    say(format!("Artifacts origin at {}", running.artifacts_url));
    if let Some(viewer) = &running.trace_viewer_url {
        say(format!("Playwright's trace viewer at {viewer}"));
    }
    if let Some(endpoint) = &running.s3_endpoint {
        say(format!("Embedded S3 at {endpoint}"));
    }
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    // Stop accepting; requests in flight (an agent's upload, say) get time to finish.
    say(format!(
        "Stopping: finishing the requests in flight (up to {} s).",
        crate::http::listen::DRAIN_TIMEOUT.as_secs()
    ));
    let _ = running.stop.send(true);
    running.server.await?;
    // The audit events of the last requests are stored before the process ends.
    if tokio::time::timeout(std::time::Duration::from_secs(10), running.vitrine.audit().flush()).await.is_err() {
        say("The audit log could not be written in time: its last events are lost.".into());
    }
    say("Stopped.".into());
    Ok(ExitCode::SUCCESS)
}

/// What the first start tells about an installation: whether it listens on all addresses, and
/// where its data is (for the command that makes the first user).
struct Installation {
    everywhere: bool,
    data_dir: std::path::PathBuf,
    database_url: bool,
}

/// What a new installation needs to hear: that the URL it hands out only works on this machine
/// while it listens on all addresses, and how to make its first user (or that user, made once
/// from `VITRINE_ADMIN_USER` and `VITRINE_ADMIN_PASSWORD_FILE`, for containers).
async fn first_start(running: &crate::serve::Running, at: &Installation, say: &impl Fn(String)) -> anyhow::Result<()> {
    let Installation { everywhere, data_dir, database_url } = at;
    for note in address_notes(*everywhere, &running.public_url, running.trace_viewer_url.as_deref()) {
        say(note);
    }
    let accounts = running.vitrine.accounts();
    if accounts.any_user().await? {
        return Ok(());
    }
    let from_env = std::env::var("VITRINE_ADMIN_USER").ok().filter(|u| !u.is_empty());
    if let Some(name) = from_env {
        let file = std::env::var("VITRINE_ADMIN_PASSWORD_FILE").map_err(|_| {
            anyhow::anyhow!(
                "VITRINE_ADMIN_USER is set: set VITRINE_ADMIN_PASSWORD_FILE to a file holding the password too"
            )
        })?;
        let password = std::fs::read_to_string(&file)
            .map_err(|e| anyhow::anyhow!("cannot read VITRINE_ADMIN_PASSWORD_FILE {file}: {e}"))?;
        accounts.add_user(&name, password.trim_end_matches(['\n', '\r']), true).await?;
        running.vitrine.audit().record(vitrine_store::AuditEvent {
            actor: "vitrine serve (VITRINE_ADMIN_USER)".into(),
            detail: format!("{name} (admin)"),
            ..crate::core::audit::event_by(
                &crate::core::Principal::Anonymous,
                crate::core::audit::AuditAction::AdminUserAdd,
            )
        });
        say(format!(
            "Made the first user, {name}, an instance admin (from VITRINE_ADMIN_USER); sign in at {}/login",
            running.public_url
        ));
        return Ok(());
    }
    let database = if *database_url { "DATABASE_URL=... " } else { "" };
    say(format!(
        "No one can sign in yet. Make the first user, with its password in a file:\n  \
         {database}vitrine admin --data-dir {} user add NAME --admin --password-stdin < PASSWORD_FILE",
        data_dir.display()
    ));
    Ok(())
}

/// What to say of the URLs a server hands out: that they work on its own machine only while it
/// listens on all addresses; that the trace viewer needs HTTPS away from localhost.
fn address_notes(everywhere: bool, public_url: &str, trace_viewer_url: Option<&str>) -> Vec<String> {
    let parsed = |url: &str| url.parse::<url::Url>().ok();
    let mut notes = Vec::new();
    if everywhere && parsed(public_url).is_some_and(|u| crate::urls::names_this_machine_only(&u)) {
        notes.push(format!(
            "Warning: this server listens on all addresses, but hands out URLs on {public_url}, which other \
             machines cannot reach. Set --public-url (VITRINE_PUBLIC_URL) to the URL they use, like \
             http://ci-artifacts:3000."
        ));
    }
    let plain_http_elsewhere = |u: &url::Url| u.scheme() == "http" && !crate::urls::names_this_machine_only(u);
    if let Some(viewer) = trace_viewer_url.filter(|v| parsed(v).is_some_and(|u| plain_http_elsewhere(&u))) {
        notes.push(format!(
            "Note: browsers open Playwright's trace viewer ({viewer}) only over HTTPS or on localhost (it runs \
             a service worker, which needs a secure context): serve it through an HTTPS proxy (README, \
             \"A team's servers\")."
        ));
    }
    notes
}

/// `10.0.0.0/8`, or a single address (`10.0.0.5`, `::1`).
fn parse_net(text: &str) -> Result<ipnet::IpNet, String> {
    let text = text.trim();
    text.parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("`{text}` is not an address or a CIDR block (like 10.0.0.0/8)"))
}

#[cfg(test)]
mod tests {
    use super::address_notes;

    #[test]
    fn a_server_says_when_its_urls_work_on_its_own_machine_only() {
        let everywhere = address_notes(true, "http://0.0.0.0:3000", None);
        assert!(
            everywhere[0].contains("hands out URLs on http://0.0.0.0:3000") && everywhere[0].contains("--public-url")
        );
        assert_eq!(address_notes(true, "http://127.0.0.1:3000", None).len(), 1);
        assert!(address_notes(false, "http://127.0.0.1:3000", None).is_empty(), "loopback only: as it should");
        assert!(address_notes(true, "https://ci.example", Some("https://ci.example:3002")).is_empty());
        let viewer = address_notes(true, "http://10.0.0.5:3000", Some("http://10.0.0.5:3002"));
        assert_eq!(viewer.len(), 1);
        assert!(viewer[0].contains("trace viewer (http://10.0.0.5:3002) only over HTTPS"), "{viewer:?}");
        assert!(address_notes(false, "http://127.0.0.1:3000", Some("http://127.0.0.1:3002")).is_empty());
    }
}
