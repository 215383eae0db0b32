//! Sends local files to S3 through the URLs the server hands out, then has the server verify
//! and list them. Files are hashed first (so stored content is skipped), sent 16 at a time,
//! and a file over the limit, or one that changes or vanishes, fails alone.

use std::io::SeekFrom;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use futures::{StreamExt, TryStreamExt};
use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::client::{AgentClient, BuildTarget};
use super::paths::LocalFile;
use crate::domain::MAX_ARTIFACT_SIZE;
use crate::services::uploads::{CompletedPart, FileToStore, UploadDone, UploadPlan};
use crate::storage::SignedRequest;

const CONCURRENCY: usize = 16;
const BATCH: usize = 500;

/// What happened to a store step's files.
#[derive(Debug, Default)]
pub struct UploadReport {
    pub stored: Vec<String>,
    pub failed: Vec<(String, String)>,
}

impl UploadReport {
    pub fn ok(&self) -> bool {
        self.failed.is_empty()
    }

    fn fail(&mut self, what: &str, why: impl Into<String>) {
        let why = why.into();
        eprintln!("vitrine: {what}: {why}");
        self.failed.push((what.to_owned(), why));
    }
}

fn gib(bytes: u64) -> String {
    format!("{:.2} GiB", bytes as f64 / (1u64 << 30) as f64)
}

async fn sha256_file(path: &Path) -> std::io::Result<(u64, String)> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let mut file = std::fs::File::open(&path)?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut size = 0u64;
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            size += n as u64;
            hasher.update(&buf[..n]);
        }
        Ok((size, hex::encode(hasher.finalize())))
    })
    .await
    .map_err(std::io::Error::other)?
}

/// PUTs `len` bytes of `path` from `offset`; answers the ETag S3 gave.
async fn put_range(
    http: &reqwest::Client,
    request: &SignedRequest,
    path: &Path,
    offset: u64,
    len: u64,
    progress: &ProgressBar,
) -> anyhow::Result<String> {
    let mut file =
        tokio::fs::File::open(path).await.with_context(|| format!("{} vanished before it was sent", path.display()))?;
    file.seek(SeekFrom::Start(offset)).await?;
    let progress = progress.clone();
    let stream = tokio_util::io::ReaderStream::with_capacity(file.take(len), 256 * 1024)
        .inspect_ok(move |chunk| progress.inc(chunk.len() as u64));
    let mut put = http.put(&request.url).header(reqwest::header::CONTENT_LENGTH, len);
    for (name, value) in &request.headers {
        if !name.eq_ignore_ascii_case("content-length") {
            put = put.header(name, value);
        }
    }
    let response =
        put.body(reqwest::Body::wrap_stream(stream)).send().await.with_context(|| {
            format!("sending {} failed (did it change or vanish while being sent?)", path.display())
        })?;
    if !response.status().is_success() {
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        bail!("the storage refused {} ({status}): {}", path.display(), body.chars().take(300).collect::<String>());
    }
    Ok(response.headers().get(reqwest::header::ETAG).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned())
}

async fn send(
    http: &reqwest::Client,
    plan: &UploadPlan,
    local: &Path,
    size: u64,
    progress: &ProgressBar,
) -> anyhow::Result<Option<UploadDone>> {
    match plan {
        UploadPlan::Stored { .. } => {
            progress.inc(size);
            Ok(None)
        }
        UploadPlan::Put { upload_id, request, .. } => {
            put_range(http, request, local, 0, size, progress).await?;
            Ok(Some(UploadDone { upload_id: upload_id.clone(), parts: vec![] }))
        }
        UploadPlan::Multipart { upload_id, part_size, parts, .. } => {
            let mut done = Vec::with_capacity(parts.len());
            for (i, request) in parts.iter().enumerate() {
                let offset = i as u64 * part_size;
                let len = (*part_size).min(size.saturating_sub(offset));
                let etag = put_range(http, request, local, offset, len, progress).await?;
                done.push(CompletedPart { part_number: i as i32 + 1, etag });
            }
            Ok(Some(UploadDone { upload_id: upload_id.clone(), parts: done }))
        }
    }
}

fn progress_bar(total: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {bytes}/{total_bytes} {bytes_per_sec} {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// Stores `files` for the target build and node. Never stops at the first bad file: each
/// failure is reported and the rest still go up.
pub async fn upload(client: &AgentClient, target: &BuildTarget, files: Vec<LocalFile>) -> anyhow::Result<UploadReport> {
    let mut report = UploadReport::default();
    // Hash, and refuse what is over the limit before sending anything.
    let hashed: Vec<(LocalFile, anyhow::Result<(u64, String)>)> = futures::stream::iter(files)
        .map(|f| async move {
            let result = async {
                let meta = tokio::fs::metadata(&f.local)
                    .await
                    .with_context(|| "the file vanished before it was sent".to_string())?;
                if meta.len() > MAX_ARTIFACT_SIZE {
                    bail!(
                        "{} is {}, over the 3 GiB limit per artifact; not stored",
                        f.local.display(),
                        gib(meta.len())
                    );
                }
                sha256_file(&f.local).await.context("cannot read the file")
            }
            .await;
            (f, result)
        })
        .buffered(4)
        .collect()
        .await;
    let mut ready = Vec::new();
    for (file, result) in hashed {
        match result {
            Ok((size, sha256)) => ready.push((file, size, sha256)),
            Err(e) => report.fail(&file.pretty_path, format!("{e:#}")),
        }
    }
    let total: u64 = ready.iter().map(|(_, size, _)| size).sum();
    let progress = progress_bar(total);
    let http = client.http().clone();
    for batch in ready.chunks(BATCH) {
        let declared: Vec<FileToStore> = batch
            .iter()
            .map(|(f, size, sha256)| FileToStore {
                path: f.path.clone(),
                pretty_path: f.pretty_path.clone(),
                size: *size,
                sha256: sha256.clone(),
            })
            .collect();
        let phase = std::time::Instant::now();
        let plans = client.plan(target, &declared).await?;
        tracing::debug!(files = batch.len(), elapsed_ms = phase.elapsed().as_millis() as u64, "planned uploads");
        let phase = std::time::Instant::now();
        let progress_ref = Arc::new(progress.clone());
        let sent: Vec<(String, anyhow::Result<Option<UploadDone>>)> =
            futures::stream::iter(batch.iter().zip(plans.iter()))
                .map(|((file, size, _), plan)| {
                    let http = http.clone();
                    let progress = progress_ref.clone();
                    async move { (file.pretty_path.clone(), send(&http, plan, &file.local, *size, &progress).await) }
                })
                .buffer_unordered(CONCURRENCY)
                .collect()
                .await;
        let mut done = Vec::new();
        for (pretty, result) in sent {
            match result {
                Ok(Some(d)) => done.push(d),
                Ok(None) => report.stored.push(pretty),
                Err(e) => report.fail(&pretty, format!("{e:#}")),
            }
        }
        tracing::debug!(uploads = done.len(), elapsed_ms = phase.elapsed().as_millis() as u64, "sent to storage");
        let phase = std::time::Instant::now();
        if !done.is_empty() {
            for outcome in client.complete(target, &done).await? {
                match outcome.error {
                    None => report.stored.push(outcome.pretty_path),
                    Some(why) => report.fail(&outcome.pretty_path, why),
                }
            }
            tracing::debug!(elapsed_ms = phase.elapsed().as_millis() as u64, "verified by the server");
        }
    }
    progress.finish_and_clear();
    Ok(report)
}
