//! What the core is told at start-up: where people reach the server, and the limits and
//! timings of uploads, sweeps and retention.

use std::time::Duration;

/// Settings the services need beyond their stores.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The base URL people and agents reach this server at, without a trailing `/`.
    pub public_url: String,
    pub uploads: UploadSettings,
    /// Playwright's trace viewer is installed (`<site root>/trace-viewer`), served on the
    /// artifacts origin.
    pub trace_viewer: bool,
}

/// Limits and timings of stored artifacts: how they are uploaded, swept and kept.
#[derive(Debug, Clone)]
pub struct UploadSettings {
    /// How long upload URLs work.
    pub url_ttl: Duration,
    /// Artifacts one build may hold, across its nodes.
    pub max_build_artifacts: i64,
    /// A build whose nodes have not all finished this long after it started is closed as
    /// `timedout`.
    pub build_timeout: Duration,
    /// How often the sweeper runs.
    pub sweep_every: Duration,
    /// How long artifacts are kept (a project may set its own): older builds' artifacts
    /// expire, except the latest successful build of each branch and pinned builds.
    pub artifact_retention: Duration,
    /// How long after its URLs expired an upload that was never completed is removed (a PUT
    /// that started just before expiry may still be streaming).
    pub sweep_grace: Duration,
    /// Files larger than this go up in parts; 0: one PUT each. `None`: by the store (the
    /// embedded one takes whole files, S3 services get parts of 64 MiB).
    pub part_size: Option<u64>,
    /// Verify every upload by copying it to a key no URL was issued for and hashing the copy,
    /// even on a store that proved it checks what it is sent.
    pub verify_by_copy: bool,
}

impl Default for UploadSettings {
    fn default() -> Self {
        UploadSettings {
            url_ttl: Duration::from_secs(3600),
            max_build_artifacts: 100_000,
            build_timeout: Duration::from_secs(24 * 3600),
            sweep_every: Duration::from_secs(60),
            artifact_retention: Duration::from_secs(30 * 86400),
            sweep_grace: Duration::from_secs(3600),
            part_size: None,
            verify_by_copy: false,
        }
    }
}
