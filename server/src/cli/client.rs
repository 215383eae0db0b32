//! The agent's side of the agent API: a small HTTP client with retries.

use std::time::Duration;

use anyhow::{Context, bail};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::domain::{BuildNum, BuildStatus, NodeIndex, ProjectSlug};
use crate::services::uploads::{FileToStore, UploadDone, UploadOutcome, UploadPlan};

/// Waits between attempts when the server cannot be reached, doubling up to 8 s.
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(500u64.saturating_mul(1 << attempt.min(4)))
}

/// How long an agent keeps trying to reach the server: `VITRINE_RETRY_SECS`, 60 by default.
fn retry_budget() -> Duration {
    let secs = std::env::var("VITRINE_RETRY_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(60);
    Duration::from_secs(secs)
}

#[derive(Clone)]
pub struct AgentClient {
    http: reqwest::Client,
    server: String,
    token: String,
    project: ProjectSlug,
}

/// Which build and node the files belong to.
#[derive(Debug, Clone)]
pub struct BuildTarget {
    pub build_num: BuildNum,
    pub node_index: NodeIndex,
}

#[derive(Debug, serde::Deserialize)]
pub struct Started {
    pub build_num: i64,
    pub build_url: String,
}

#[derive(serde::Deserialize)]
struct PlanResponse {
    uploads: Vec<UploadPlan>,
}

#[derive(serde::Deserialize)]
struct CompleteResponse {
    results: Vec<UploadOutcome>,
}

#[derive(serde::Deserialize)]
struct ErrorBody {
    message: String,
}

impl AgentClient {
    pub fn new(server: &str, token: &str, project: ProjectSlug) -> anyhow::Result<Self> {
        let server = server.trim_end_matches('/').to_owned();
        if !(server.starts_with("http://") || server.starts_with("https://")) {
            bail!("--server must be a URL such as http://127.0.0.1:3000 (got `{server}`)");
        }
        if token.trim().is_empty() {
            bail!(
                "a build token is needed: pass --token or set VITRINE_TOKEN (vitrine admin project token {})",
                project.short()
            );
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("vitrine/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(AgentClient { http, server, token: token.trim().to_owned(), project })
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub fn project(&self) -> &ProjectSlug {
        &self.project
    }

    fn url(&self, tail: &str) -> String {
        let p = &self.project;
        format!("{}/api/agent/projects/{}/{}/{}/builds{tail}", self.server, p.vcs.as_str(), p.org, p.repo)
    }

    /// POSTs JSON; retries while the server is unreachable or restarting, then gives up with a
    /// message that says where it tried.
    async fn post<B: Serialize, R: DeserializeOwned>(&self, tail: &str, body: &B) -> anyhow::Result<R> {
        let url = self.url(tail);
        let started = std::time::Instant::now();
        let budget = retry_budget();
        let mut attempt = 0;
        loop {
            let result = self.http.post(&url).header("Circle-Token", &self.token).json(body).send().await;
            let retry = match &result {
                Err(e) => e.is_connect(),
                Ok(r) => matches!(r.status().as_u16(), 502..=504),
            };
            let wait = backoff(attempt);
            if retry && started.elapsed() + wait <= budget {
                tracing::warn!(attempt, wait_ms = wait.as_millis() as u64, "Vitrine server not reachable, retrying");
                if attempt == 0 {
                    eprintln!("vitrine: waiting for the server at {} ...", self.server);
                }
                tokio::time::sleep(wait).await;
                attempt += 1;
                continue;
            }
            let response = result.with_context(|| {
                format!(
                    "cannot reach the Vitrine server at {} (tried {} times over {} s; is `vitrine serve` running?)",
                    self.server,
                    attempt + 1,
                    started.elapsed().as_secs()
                )
            })?;
            let status = response.status();
            if status.is_success() {
                return response.json().await.context("the server answered with unexpected JSON");
            }
            let message = match response.json::<ErrorBody>().await {
                Ok(b) => b.message,
                Err(_) => status.canonical_reason().unwrap_or("error").to_owned(),
            };
            bail!("the server refused the request ({}): {message}", status.as_u16());
        }
    }

    pub async fn start_build(
        &self,
        branch: &str,
        revision: &str,
        join: Option<BuildNum>,
        node: NodeIndex,
    ) -> anyhow::Result<Started> {
        let body = serde_json::json!({
            "branch": branch,
            "revision": revision,
            "build_num": join.map(|n| n.0),
            "node_index": node.0,
        });
        self.post("", &body).await
    }

    pub async fn plan(&self, target: &BuildTarget, files: &[FileToStore]) -> anyhow::Result<Vec<UploadPlan>> {
        let body = serde_json::json!({ "node_index": target.node_index.0, "files": files });
        let r: PlanResponse = self.post(&format!("/{}/uploads", target.build_num), &body).await?;
        Ok(r.uploads)
    }

    pub async fn complete(&self, target: &BuildTarget, done: &[UploadDone]) -> anyhow::Result<Vec<UploadOutcome>> {
        let body = serde_json::json!({ "uploads": done });
        let r: CompleteResponse = self.post(&format!("/{}/uploads/complete", target.build_num), &body).await?;
        Ok(r.results)
    }

    /// Reports how this node ended; answers the build's status (a failure elsewhere is kept).
    pub async fn finish(&self, build_num: BuildNum, status: BuildStatus) -> anyhow::Result<String> {
        let summary: serde_json::Value =
            self.post(&format!("/{build_num}/finish"), &serde_json::json!({ "status": status.as_str() })).await?;
        Ok(summary["status"].as_str().unwrap_or(status.as_str()).to_owned())
    }
}
