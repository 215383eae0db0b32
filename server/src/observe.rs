//! What an operator watches: logs (text or one JSON object per line), the names of the
//! Prometheus metrics served at `/metrics`, the S3 client's counters. The access line of
//! each request is written by `http::access_log`.
//!
//! Nothing here ever writes a token or a signed URL: a request is named by its route
//! template (`/api/v1.1/project/{vcs}/{org}/{repo}/{build_num}/artifacts`), never by its
//! path or query (a `circle-token` may ride in the query), and who made it by ids.

use std::sync::{OnceLock, RwLock};
use std::time::Instant;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// How `vitrine serve` writes its log lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// For people: one readable line per event.
    #[default]
    Text,
    /// For log pipelines: one JSON object per line (`timestamp`, `level`, `target`, `message`
    /// and the event's fields).
    Json,
}

/// Logs go to stderr in `format`, filtered by `VITRINE_LOG` (default: `default`). Beside
/// them, every statement the metadata store runs is timed into [`DB_DURATION`] (from sqlx's
/// own per-statement event, which the log filter does not see).
///
/// A request formats its lines (the access line among them) and hands them to a thread of
/// their own, which writes what has gathered in one write whenever it runs: under load, many
/// lines a write instead of one (an unbuffered write under a lock each, which was a quarter of
/// the artifact route's time), and no request waits on stderr. None is dropped: when that
/// thread falls behind by [`LOG_BACKLOG`] lines, requests wait for it. The lines still queued
/// are written when the returned guard is dropped, so hold it until the process ends.
#[must_use = "log lines still queued are lost unless the guard lives until the end"]
pub fn init_logging(format: LogFormat, default: &str) -> tracing_appender::non_blocking::WorkerGuard {
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = tracing_subscriber::EnvFilter::try_from_env("VITRINE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let (stderr, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .buffered_lines_limit(LOG_BACKLOG)
        .lossy(false)
        .thread_name("vitrine-log")
        .finish(std::io::BufWriter::with_capacity(64 * 1024, std::io::stderr()));
    let lines = tracing_subscriber::fmt::layer().with_writer(stderr);
    let lines = match format {
        LogFormat::Text => lines.boxed(),
        LogFormat::Json => lines.json().flatten_event(true).with_current_span(false).with_span_list(false).boxed(),
    };
    let statements = tracing_subscriber::filter::Targets::new().with_target("sqlx::query", tracing::Level::TRACE);
    let _ = tracing_subscriber::registry()
        .with(lines.with_filter(filter))
        .with(StatementTimes.with_filter(statements))
        .try_init();
    guard
}

/// How many log lines may wait for the writer before requests wait for it.
pub const LOG_BACKLOG: usize = 16 * 1024;

/// Reads the time of each statement from sqlx's `sqlx::query` events (`elapsed_secs`) and the
/// kind of statement from their summary's first word.
struct StatementTimes;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for StatementTimes {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        #[derive(Default)]
        struct Fields {
            seconds: Option<f64>,
            kind: &'static str,
        }
        impl tracing::field::Visit for Fields {
            fn record_f64(&mut self, field: &tracing::field::Field, value: f64) {
                if field.name() == "elapsed_secs" {
                    self.seconds = Some(value);
                }
            }
            fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
                if field.name() == "summary" {
                    self.kind = statement_kind(value);
                }
            }
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "summary" {
                    self.kind = statement_kind(format!("{value:?}").trim_start_matches('"'));
                }
            }
        }
        let mut fields = Fields { seconds: None, kind: "other" };
        event.record(&mut fields);
        if let Some(seconds) = fields.seconds {
            metrics::histogram!(DB_DURATION, "statement" => fields.kind).record(seconds);
        }
    }
}

/// `select`, `insert`, `update`, `delete`, `begin`, `commit`...: the first word of a statement,
/// from a closed list.
fn statement_kind(sql: &str) -> &'static str {
    let word = sql.split_whitespace().next().unwrap_or_default().to_ascii_lowercase();
    const KINDS: [&str; 10] =
        ["select", "insert", "update", "delete", "with", "begin", "commit", "rollback", "pragma", "create"];
    KINDS.into_iter().find(|k| *k == word).unwrap_or("other")
}

// ---- metrics ------------------------------------------------------------------------------

/// Requests answered, by `method`, `route` and `status`.
pub const HTTP_REQUESTS: &str = "vitrine_http_requests_total";
/// Time to a response's head, by `route`.
pub const HTTP_DURATION: &str = "vitrine_http_request_duration_seconds";
/// Body bytes sent, by `route`.
pub const HTTP_BYTES: &str = "vitrine_http_response_bytes_total";
/// Uploads checked on completion, by `outcome` (`verified`, `refused`).
pub const UPLOADS: &str = "vitrine_uploads_total";
/// Requests to S3, by `operation` and `status` (the HTTP status, `none` when no answer came).
pub const S3_REQUESTS: &str = "vitrine_s3_requests_total";
/// Time of S3 requests (retries included), by `operation`.
pub const S3_DURATION: &str = "vitrine_s3_request_duration_seconds";
/// Time of the metadata store's statements, by `statement` (`select`, `insert`, ...).
pub const DB_DURATION: &str = "vitrine_db_statement_duration_seconds";
/// Metadata-store errors, by `kind` (`busy`: worth a retry; `other`).
pub use vitrine_store::DB_ERRORS;
/// Sweeper passes, and what they removed, by `work`.
pub const SWEEPS: &str = "vitrine_sweeper_passes_total";
pub const SWEPT: &str = "vitrine_sweeper_removed_total";
/// Requests refused by a rate limit, by `limit`.
pub const RATE_LIMITED: &str = "vitrine_rate_limited_total";
/// Sign-ins through identity providers, by `outcome` (`signed-in`, or the refusal's reason),
/// and sessions checked with their provider again, by `outcome` (`kept`, `ended`, `unanswered`).
pub const SIGN_INS: &str = "vitrine_oidc_sign_ins_total";
pub const RECHECKS: &str = "vitrine_oidc_rechecks_total";
/// Lookups in the in-memory caches, by `cache` and `result` (`hit`, `miss`).
pub const CACHE: &str = "vitrine_cache_requests_total";

/// The process's metrics registry (installed at the first call; one per process, shared by
/// every server a process runs, as tests do).
pub fn metrics() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        const SECONDS: &[f64] =
            &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS)
            .expect("buckets are not empty")
            .build_recorder();
        let handle = recorder.handle();
        // Another recorder (a test's) may be installed already: this one then renders
        // nothing, which /metrics shows plainly.
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was installed already; /metrics will be empty");
        }
        handle
    })
}

/// Keeps the histograms' memory bounded: run every few seconds by each server.
pub fn spawn_upkeep() {
    static STARTED: OnceLock<()> = OnceLock::new();
    STARTED.get_or_init(|| {
        let handle = metrics();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
            loop {
                every.tick().await;
                handle.run_upkeep();
            }
        });
    });
}

/// A cache's name in metrics, and its hit and miss counters, registered at its first lookup
/// (a cache looked up on every request then records without looking its counters up).
pub struct CacheCounters {
    pub name: &'static str,
    counters: OnceLock<[metrics::Counter; 2]>,
}

impl CacheCounters {
    pub fn new(name: &'static str) -> Self {
        CacheCounters { name, counters: OnceLock::new() }
    }

    pub fn lookup(&self, hit: bool) {
        let [hits, misses] = self.counters.get_or_init(|| {
            metrics();
            [
                metrics::counter!(CACHE, "cache" => self.name, "result" => "hit"),
                metrics::counter!(CACHE, "cache" => self.name, "result" => "miss"),
            ]
        });
        if hit { hits } else { misses }.increment(1);
    }
}

/// A label value from a small, closed set (route templates, statuses, S3 operations), kept
/// for the process's life so that recording allocates nothing. Never called with what a
/// client chose freely.
pub fn interned(value: &str) -> &'static str {
    static SEEN: OnceLock<RwLock<std::collections::HashSet<&'static str>>> = OnceLock::new();
    let seen = SEEN.get_or_init(Default::default);
    if let Some(found) = seen.read().expect("not poisoned").get(value) {
        return found;
    }
    let mut seen = seen.write().expect("not poisoned");
    if let Some(found) = seen.get(value) {
        return found;
    }
    let kept: &'static str = Box::leak(value.to_owned().into_boxed_str());
    seen.insert(kept);
    kept
}

/// A status as a label, without allocating: the three digits, for the process's life.
pub fn status_label(status: http::StatusCode) -> &'static str {
    static LABELS: OnceLock<Box<[String]>> = OnceLock::new();
    let labels = LABELS.get_or_init(|| (100..1000u16).map(|code| code.to_string()).collect());
    &labels[usize::from(status.as_u16()) - 100]
}

// ---- S3 -----------------------------------------------------------------------------------

/// Counts and times every S3 request the SDK makes (retries included in the time), by
/// operation and HTTP status.
#[derive(Debug)]
pub struct S3Requests;

#[derive(Debug, Clone)]
struct Started(Instant);

impl aws_smithy_types::config_bag::Storable for Started {
    type Storer = aws_smithy_types::config_bag::StoreReplace<Self>;
}

impl aws_smithy_runtime_api::client::interceptors::Intercept for S3Requests {
    fn name(&self) -> &'static str {
        "vitrine metrics"
    }

    fn read_before_execution(
        &self,
        _: &aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        cfg.interceptor_state().store_put(Started(Instant::now()));
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextRef<'_>,
        _: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        let operation = cfg
            .load::<aws_smithy_runtime_api::client::orchestrator::Metadata>()
            .map_or("unknown", |m| interned(m.name()));
        let status = context
            .response()
            .and_then(|r| http::StatusCode::from_u16(r.status().as_u16()).ok())
            .map_or("none", status_label);
        metrics::counter!(S3_REQUESTS, "operation" => operation, "status" => status).increment(1);
        if let Some(Started(at)) = cfg.load::<Started>() {
            metrics::histogram!(S3_DURATION, "operation" => operation).record(at.elapsed().as_secs_f64());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_labelled_by_their_digits() {
        assert_eq!(status_label(http::StatusCode::FOUND), "302");
        assert_eq!(status_label(http::StatusCode::from_u16(999).unwrap()), "999");
        assert!(std::ptr::eq(status_label(http::StatusCode::OK), status_label(http::StatusCode::OK)));
    }

    #[test]
    fn statements_are_told_by_their_first_word() {
        assert_eq!(statement_kind("SELECT id FROM users"), "select");
        assert_eq!(statement_kind("  insert INTO t"), "insert");
        assert_eq!(statement_kind("VACUUM"), "other");
        assert_eq!(statement_kind(""), "other");
    }

    #[test]
    fn labels_are_interned_once() {
        let a = interned("/api/x/{y}");
        let b = interned(&String::from("/api/x/{y}"));
        assert!(std::ptr::eq(a, b));
    }
}
