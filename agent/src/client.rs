//! The agent's side of the agent API (`vitrine_wire::agent`): typed requests, and retries with
//! backoff and jitter for every request, to the server and to the store alike, while the
//! retry budget (`--retry-for`) lasts.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::TryStreamExt;
use rand::Rng;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot};
use vitrine_wire::agent::{
    CompleteRequest, CompleteResponse, ErrorBody, FileToStore, FinishRequest, Finished, PROTOCOL_HEADER,
    PROTOCOL_VERSION, PlanRequest, PlanResponse, SignedRequest, StartRequest, Started, UploadDone, UploadOutcome,
};

use crate::domain::{BuildNum, BuildStatus, NodeIndex, ProjectSlug};

/// The wait before retry `attempt` (0-based): doubling from 250 ms up to 8 s, with full
/// jitter so that many agents restarting together do not knock in step.
fn backoff(attempt: u32) -> Duration {
    let cap = 250u64.saturating_mul(1 << attempt.min(5));
    Duration::from_millis(rand::thread_rng().gen_range(cap / 2..=cap))
}

/// Whether a failed exchange may succeed when tried again.
pub(crate) enum Failure {
    /// Connection refused or reset, timeout, 5xx, 429: try again while the budget lasts.
    Transient(anyhow::Error),
    /// A 429 or 503 that said how long to wait (`Retry-After`): not before then.
    Later(anyhow::Error, Duration),
    /// The other side said no: trying again cannot help.
    Final(anyhow::Error),
}

pub(crate) fn transient_status(status: reqwest::StatusCode) -> bool {
    status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS
}

/// The longest `Retry-After` honoured as it is (a longer one is waited for this long).
const LONGEST_RETRY_AFTER: Duration = Duration::from_secs(60);

/// A refused exchange, by its status and its `Retry-After` (in seconds) when it has one.
pub(crate) fn refused(status: reqwest::StatusCode, headers: &reqwest::header::HeaderMap, e: anyhow::Error) -> Failure {
    if !transient_status(status) {
        return Failure::Final(e);
    }
    let after = headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|s| Duration::from_secs(s).min(LONGEST_RETRY_AFTER));
    match after {
        Some(after) => Failure::Later(e, after),
        None => Failure::Transient(e),
    }
}

pub(crate) fn classify(e: reqwest::Error) -> Failure {
    if e.is_connect() || e.is_timeout() || e.is_request() || e.is_body() || e.is_decode() {
        Failure::Transient(e.into())
    } else {
        Failure::Final(e.into())
    }
}

#[derive(Clone)]
pub struct AgentClient {
    http: reqwest::Client,
    server: String,
    token: String,
    project: ProjectSlug,
    retry_for: Duration,
    /// How many uploads run at once.
    pub concurrency: usize,
}

/// Told how many bytes went out as they go (negative: an attempt that failed, taken back).
pub type SentBytes = std::sync::Arc<dyn Fn(i64) + Send + Sync>;

/// Which build and node the files belong to.
#[derive(Debug, Clone)]
pub struct BuildTarget {
    pub build_num: BuildNum,
    pub node_index: NodeIndex,
}

/// Reads a token from a file (`--token-file`), so it need not appear in argv or the environment.
pub fn read_token_file(path: &Path) -> anyhow::Result<String> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read the token file {}", path.display()))?;
    let token = text.trim();
    if token.is_empty() {
        bail!("the token file {} is empty", path.display());
    }
    Ok(token.to_owned())
}

/// The token from `--token`/`VITRINE_TOKEN` or `--token-file`/`VITRINE_TOKEN_FILE`.
pub fn resolve_token(token: Option<&str>, file: Option<&PathBuf>) -> anyhow::Result<Option<String>> {
    match (token.map(str::trim).filter(|t| !t.is_empty()), file) {
        (Some(t), _) => Ok(Some(t.to_owned())),
        (None, Some(f)) => read_token_file(f).map(Some),
        (None, None) => Ok(None),
    }
}

impl AgentClient {
    pub fn new(server: &str, token: Option<String>, project: ProjectSlug, retry_for: Duration) -> anyhow::Result<Self> {
        let server = server.trim_end_matches('/').to_owned();
        if !(server.starts_with("http://") || server.starts_with("https://")) {
            bail!("--server must be a URL such as http://127.0.0.1:3000 (got `{server}`)");
        }
        let Some(token) = token else {
            bail!(
                "a build token is needed: set VITRINE_TOKEN or pass --token-file (vitrine admin project token {})",
                project.short()
            );
        };
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            // No answer for this long means the server or store is gone: retry.
            .read_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(128)
            // Redirects are followed by hand, without the token (it must never reach a store).
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("vitrine/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(AgentClient { http, server, token, project, retry_for, concurrency: 32 })
    }

    pub fn project(&self) -> &ProjectSlug {
        &self.project
    }

    pub fn server(&self) -> &str {
        &self.server
    }

    pub fn token(&self) -> &str {
        &self.token
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    fn url(&self, tail: &str) -> String {
        let p = &self.project;
        format!("{}/api/agent/projects/{}/{}/{}/builds{tail}", self.server, p.vcs.as_str(), p.org, p.repo)
    }

    /// Runs `attempt` until it succeeds, fails for good, or the retry budget is spent.
    pub(crate) async fn retrying<T, F, Fut>(&self, what: &str, mut attempt: F) -> anyhow::Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, Failure>>,
    {
        let started = Instant::now();
        let mut tries = 0u32;
        loop {
            match attempt().await {
                Ok(v) => return Ok(v),
                Err(Failure::Final(e)) => return Err(e),
                Err(failure @ (Failure::Transient(_) | Failure::Later(..))) => {
                    let (e, wait) = match failure {
                        Failure::Later(e, after) => (e, after.max(backoff(tries))),
                        Failure::Transient(e) | Failure::Final(e) => (e, backoff(tries)),
                    };
                    if started.elapsed() + wait > self.retry_for {
                        return Err(e.context(format!(
                            "{what}: gave up after {} tries over {} s (--retry-for {} s)",
                            tries + 1,
                            started.elapsed().as_secs(),
                            self.retry_for.as_secs()
                        )));
                    }
                    if tries == 0 {
                        eprintln!("vitrine: {what} failed ({e:#}); retrying for up to {} s", self.retry_for.as_secs());
                    }
                    tracing::debug!(tries, wait_ms = wait.as_millis() as u64, error = %format!("{e:#}"), "retrying {what}");
                    tokio::time::sleep(wait).await;
                    tries += 1;
                }
            }
        }
    }

    /// POSTs JSON to the agent API; answers the decoded reply.
    async fn post<B: Serialize, R: DeserializeOwned>(&self, tail: &str, body: &B) -> anyhow::Result<R> {
        let url = self.url(tail);
        let what = format!("the request to {}", self.server);
        self.retrying(&what, || async {
            let response = self
                .http
                .post(&url)
                .header("Circle-Token", &self.token)
                .header(PROTOCOL_HEADER, PROTOCOL_VERSION.to_string())
                .json(body)
                .send()
                .await
                .map_err(|e| match classify(e) {
                    Failure::Transient(e) => Failure::Transient(e.context(format!(
                        "cannot reach the Vitrine server at {} (is `vitrine serve` running?)",
                        self.server
                    ))),
                    f => f,
                })?;
            answer(response).await
        })
        .await
    }

    /// GETs a path of the server's API as JSON, with the token.
    pub async fn get_json<R: DeserializeOwned>(&self, path: &str) -> anyhow::Result<R> {
        let url = format!("{}{path}", self.server);
        let what = format!("the request to {}", self.server);
        self.retrying(&what, || async {
            let response = self.http.get(&url).header("Circle-Token", &self.token).send().await.map_err(classify)?;
            answer(response).await
        })
        .await
    }

    pub async fn start_build(&self, request: &StartRequest) -> anyhow::Result<Started> {
        self.post("", request).await
    }

    pub async fn plan(&self, target: &BuildTarget, files: Vec<FileToStore>) -> anyhow::Result<PlanResponse> {
        let body = PlanRequest { node_index: target.node_index.0, files };
        self.post(&format!("/{}/uploads", target.build_num), &body).await
    }

    pub async fn complete(&self, target: &BuildTarget, uploads: Vec<UploadDone>) -> anyhow::Result<Vec<UploadOutcome>> {
        let r: CompleteResponse =
            self.post(&format!("/{}/uploads/complete", target.build_num), &CompleteRequest { uploads }).await?;
        Ok(r.results)
    }

    /// Reports how this node ended; answers the build's state (a failure elsewhere is kept).
    pub async fn finish(&self, target: &BuildTarget, status: BuildStatus) -> anyhow::Result<Finished> {
        let body = FinishRequest { node_index: target.node_index.0, status };
        self.post(&format!("/{}/finish", target.build_num), &body).await
    }

    /// PUTs `len` bytes of `path` from `offset` through a presigned request, retrying on
    /// transient failures. With `hash`, the bytes are hashed as they go out, so the file is
    /// read once.
    pub async fn put_file(
        &self,
        request: &SignedRequest,
        path: &Path,
        (offset, len): (u64, u64),
        hash: bool,
        on_sent: &SentBytes,
    ) -> anyhow::Result<PutDone> {
        let what = format!("sending {}", path.display());
        self.retrying(&what, || async {
            let counted = Arc::new(AtomicU64::new(0));
            let result = self.put_once(request, path, (offset, len), hash, on_sent, &counted).await;
            let counted = counted.load(Ordering::Relaxed) as i64;
            // Whatever this attempt counted is replaced by what it achieved: all or nothing.
            on_sent(if result.is_ok() { len as i64 - counted } else { -counted });
            result
        })
        .await
    }

    async fn put_once(
        &self,
        request: &SignedRequest,
        path: &Path,
        (offset, len): (u64, u64),
        hash: bool,
        on_sent: &SentBytes,
        counted: &Arc<AtomicU64>,
    ) -> Result<PutDone, Failure> {
        let file = std::fs::File::open(path)
            .with_context(|| format!("{} vanished before it was sent", path.display()))
            .map_err(Failure::Final)?;
        let (chunks, hashed) = read_in_background(file, offset, len, hash);
        let stream = {
            let (on_sent, counted) = (on_sent.clone(), counted.clone());
            chunks.inspect_ok(move |chunk| {
                counted.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                on_sent(chunk.len() as i64);
            })
        };
        let mut put = self.http.put(&request.url).header(reqwest::header::CONTENT_LENGTH, len);
        for (name, value) in &request.headers {
            if !name.eq_ignore_ascii_case("content-length") {
                put = put.header(name, value);
            }
        }
        let response = put.body(reqwest::Body::wrap_stream(stream)).send().await.map_err(classify)?;
        let status = response.status();
        if status.is_success() {
            let etag = response.headers().get(reqwest::header::ETAG).and_then(|v| v.to_str().ok());
            let etag = Some(etag.unwrap_or_default().to_owned());
            // The store answered after the whole body, so the reader hashed every byte of it.
            let sha256 = if counted.load(Ordering::Relaxed) == len { hashed.await.ok().flatten() } else { None };
            return Ok(PutDone { etag, sha256 });
        }
        if status == reqwest::StatusCode::PRECONDITION_FAILED {
            return Ok(PutDone { etag: None, sha256: None });
        }
        let headers = response.headers().clone();
        let body = response.text().await.unwrap_or_default();
        let e = anyhow::anyhow!(
            "the storage refused {} ({status}): {}",
            path.display(),
            body.chars().take(300).collect::<String>()
        );
        Err(refused(status, &headers, e))
    }
}

/// Bytes read per chunk of a request body.
const CHUNK: usize = 1 << 20;

/// Reads `len` bytes of `file` from `offset` on a blocking thread, hashing them when asked,
/// a few chunks ahead of the sender: reading, hashing and sending overlap. The second value
/// answers the SHA-256 once every byte was read.
fn read_in_background(
    mut file: std::fs::File,
    offset: u64,
    len: u64,
    hash: bool,
) -> (impl futures::Stream<Item = std::io::Result<bytes::Bytes>> + Send + 'static, oneshot::Receiver<Option<String>>) {
    let (tx, rx) = mpsc::channel::<std::io::Result<bytes::Bytes>>(4);
    let (done_tx, done_rx) = oneshot::channel();
    tokio::task::spawn_blocking(move || {
        use std::io::{Read, Seek};
        let mut hasher = hash.then(Sha256::new);
        let mut left = len;
        if let Err(e) = file.seek(std::io::SeekFrom::Start(offset)) {
            let _ = tx.blocking_send(Err(e));
            return;
        }
        while left > 0 {
            let mut buf = vec![0u8; CHUNK.min(left as usize)];
            match file.read(&mut buf) {
                Ok(0) => {
                    let e = std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the file got shorter while it was sent",
                    );
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
                Ok(n) => {
                    buf.truncate(n);
                    if let Some(h) = &mut hasher {
                        h.update(&buf);
                    }
                    left -= n as u64;
                    if tx.blocking_send(Ok(buf.into())).is_err() {
                        return; // the request ended early
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            }
        }
        let _ = done_tx.send(hasher.map(|h| hex::encode(h.finalize())));
    });
    let chunks = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    (chunks, done_rx)
}

/// What a PUT achieved.
#[derive(Debug)]
pub struct PutDone {
    /// The ETag the store gave; `None` when the store says the object already exists (an
    /// earlier attempt stored it, and the server checks it).
    pub etag: Option<String>,
    /// Hex SHA-256 of the bytes sent, when asked for and every byte went out in this attempt.
    pub sha256: Option<String>,
}

/// A JSON answer of the server, or its `{"message"}` as the error.
async fn answer<R: DeserializeOwned>(response: reqwest::Response) -> Result<R, Failure> {
    let status = response.status();
    if status.is_success() {
        return response.json::<R>().await.map_err(classify);
    }
    let headers = response.headers().clone();
    let message = match response.json::<ErrorBody>().await {
        Ok(b) => b.message,
        Err(_) => status.canonical_reason().unwrap_or("error").to_owned(),
    };
    let e = anyhow::anyhow!("the server refused the request ({}): {message}", status.as_u16());
    Err(refused(status, &headers, e))
}

#[cfg(test)]
mod tests {
    use reqwest::StatusCode;
    use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};

    use super::*;

    #[test]
    fn a_busy_server_is_retried_after_the_wait_it_asks_for() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("2"));
        let failure = refused(StatusCode::SERVICE_UNAVAILABLE, &headers, anyhow::anyhow!("busy"));
        assert!(matches!(failure, Failure::Later(_, wait) if wait == Duration::from_secs(2)));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("86400"));
        let failure = refused(StatusCode::TOO_MANY_REQUESTS, &headers, anyhow::anyhow!("slow down"));
        assert!(matches!(failure, Failure::Later(_, wait) if wait == LONGEST_RETRY_AFTER));
        // Without the header, or with a date, the backoff decides; a 4xx is final whatever it says.
        headers.insert(RETRY_AFTER, HeaderValue::from_static("Wed, 21 Oct 2026 07:28:00 GMT"));
        assert!(matches!(refused(StatusCode::BAD_GATEWAY, &headers, anyhow::anyhow!("x")), Failure::Transient(_)));
        assert!(matches!(refused(StatusCode::FORBIDDEN, &headers, anyhow::anyhow!("x")), Failure::Final(_)));
    }
}
