//! Sends local files to S3 through the URLs the server hands out, then has the server verify
//! and list them. Files are stat'ed first (a file over the limit is refused before any byte
//! is sent), hashed in parallel (whole file and, for big files in parts, each part), planned
//! and confirmed in batches, and sent with bounded concurrency, parts of big files in
//! parallel. Big files that go up in one PUT are hashed while they are sent, when the server
//! allows it, so they are read once; the server asks for their SHA-256 first only when the
//! project may keep them already.
//! A file that fails, fails alone: the rest still go up, and the report says why.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;
use vitrine_wire::agent::{CompletedPart, FileToStore, MIN_PART_SIZE, UploadDone, UploadPlan};

use super::client::{AgentClient, BuildTarget, SentBytes};
use super::paths::LocalFile;
use crate::domain::MAX_ARTIFACT_SIZE;

/// Files per plan and per confirmation.
const BATCH: usize = 500;
/// Batches in flight at once, so planning and confirming overlap with sending.
const BATCHES_IN_FLIGHT: usize = 3;

/// What happened to a store step's files.
#[derive(Debug, Default)]
pub struct UploadReport {
    pub stored: Vec<String>,
    /// Of the stored files, those whose content the project already kept (nothing sent).
    pub reused: usize,
    /// Bytes of the stored files.
    pub bytes: u64,
    pub failed: Vec<(String, String)>,
}

impl UploadReport {
    pub fn ok(&self) -> bool {
        self.failed.is_empty()
    }

    fn fail(&mut self, what: &str, why: impl Into<String>) {
        let why = why.into();
        eprintln!("vitrine: {what}: not stored: {why}");
        self.failed.push((what.to_owned(), why));
    }

    fn merge(&mut self, other: UploadReport) {
        self.stored.extend(other.stored);
        self.reused += other.reused;
        self.bytes += other.bytes;
        self.failed.extend(other.failed);
    }
}

fn human_bytes(bytes: u64) -> String {
    indicatif::HumanBytes(bytes).to_string()
}

/// A file ready to declare: its size, SHA-256 (`None`: hashed while it is sent), and the
/// SHA-256 of each part when it has several.
struct Hashed {
    file: LocalFile,
    size: u64,
    sha256: Option<String>,
    part_sha256: Vec<String>,
}

impl Hashed {
    fn declare(&self) -> FileToStore {
        FileToStore {
            path: self.file.path.clone(),
            pretty_path: self.file.pretty_path.clone(),
            size: self.size,
            sha256: self.sha256.clone(),
            part_sha256: self.part_sha256.clone(),
        }
    }
}

/// Hashes a file on the blocking pool: its size, SHA-256 and part SHA-256s.
async fn hash_blocking(path: &Path, part_size: u64) -> std::io::Result<(u64, String, Vec<String>)> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || hash_file(&path, part_size)).await.map_err(std::io::Error::other)?
}

/// Reads the file once, hashing the whole and, when `part_size` is not 0, each part.
fn hash_file(path: &Path, part_size: u64) -> std::io::Result<(u64, String, Vec<String>)> {
    let mut file = std::fs::File::open(path)?;
    let mut whole = Sha256::new();
    let mut part = Sha256::new();
    let mut parts = Vec::new();
    let mut in_part = 0u64;
    let mut size = 0u64;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        let mut chunk = &buf[..n];
        whole.update(chunk);
        size += n as u64;
        while part_size > 0 && !chunk.is_empty() {
            let take = chunk.len().min((part_size - in_part) as usize);
            part.update(&chunk[..take]);
            in_part += take as u64;
            chunk = &chunk[take..];
            if in_part == part_size {
                parts.push(hex::encode(part.finalize_reset()));
                in_part = 0;
            }
        }
    }
    if in_part > 0 {
        parts.push(hex::encode(part.finalize()));
    }
    // One part is a single PUT: its checksum is the whole file's.
    if size <= part_size {
        parts.clear();
    }
    Ok((size, hex::encode(whole.finalize()), parts))
}

/// Progress for a person: a bar on a terminal, otherwise a line every few seconds.
struct Progress {
    bar: ProgressBar,
    files: usize,
    done_files: AtomicUsize,
    hashed_files: AtomicUsize,
    done_bytes: AtomicU64,
    total_bytes: u64,
    last_line: std::sync::Mutex<Instant>,
}

impl Progress {
    fn new(files: usize, total_bytes: u64) -> Progress {
        let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
        let bar = if terminal {
            let bar = ProgressBar::with_draw_target(Some(total_bytes), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} {msg} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta} {wide_bar}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        } else {
            ProgressBar::hidden()
        };
        let progress = Progress {
            bar,
            files,
            done_files: AtomicUsize::new(0),
            hashed_files: AtomicUsize::new(0),
            done_bytes: AtomicU64::new(0),
            total_bytes,
            last_line: std::sync::Mutex::new(Instant::now()),
        };
        progress.bar.set_message(format!("hashing 0/{files} files"));
        progress
    }

    fn sent(&self, bytes: i64) {
        if bytes >= 0 {
            self.bar.inc(bytes as u64);
            self.done_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        } else {
            self.bar.dec(bytes.unsigned_abs());
            self.done_bytes.fetch_sub(bytes.unsigned_abs(), Ordering::Relaxed);
        }
    }

    /// Files are hashed before anything is planned: say so, or a big file looks stuck.
    fn hashed(&self) {
        let hashed = self.hashed_files.fetch_add(1, Ordering::Relaxed) + 1;
        if hashed < self.files {
            self.bar.set_message(format!("hashing {hashed}/{} files", self.files));
        } else {
            self.bar.set_message(format!("{}/{} files", self.done_files.load(Ordering::Relaxed), self.files));
        }
    }

    fn files_done(&self, n: usize) {
        let done = self.done_files.fetch_add(n, Ordering::Relaxed) + n;
        self.bar.set_message(format!("{done}/{} files", self.files));
        if self.bar.is_hidden() {
            let mut last = self.last_line.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if last.elapsed() >= Duration::from_secs(5) && done < self.files {
                *last = Instant::now();
                eprintln!(
                    "vitrine: {done}/{} files, {} of {}",
                    self.files,
                    human_bytes(self.done_bytes.load(Ordering::Relaxed)),
                    human_bytes(self.total_bytes)
                );
            }
        }
    }
}

/// Stores `files` for the target build and node. Never stops at the first bad file: each
/// failure is reported and the rest still go up.
pub async fn upload(client: &AgentClient, target: &BuildTarget, files: Vec<LocalFile>) -> anyhow::Result<UploadReport> {
    let started = Instant::now();
    let mut report = UploadReport::default();
    // Refuse what is over the limit before sending anything.
    let mut ready = Vec::with_capacity(files.len());
    for file in files {
        // A name the server would refuse fails alone, before it can fail its whole batch.
        if let Err(e) = file.pretty_path.parse::<crate::domain::PrettyPath>() {
            report.fail(&file.pretty_path.escape_debug().to_string(), e.to_string());
            continue;
        }
        match std::fs::metadata(&file.local) {
            Ok(meta) if meta.len() > MAX_ARTIFACT_SIZE => report.fail(
                &file.pretty_path,
                format!(
                    "{} is {}, over the 3 GiB limit per artifact",
                    file.local.display(),
                    indicatif::BinaryBytes(meta.len())
                ),
            ),
            Ok(meta) => ready.push((file, meta.len())),
            Err(e) => report.fail(&file.pretty_path, format!("cannot read {}: {e}", file.local.display())),
        }
    }
    let total: u64 = ready.iter().map(|(_, size)| size).sum();
    let progress = Arc::new(Progress::new(ready.len(), total));
    let slots = Arc::new(Semaphore::new(client.concurrency));
    let hashers = std::thread::available_parallelism().map_or(2, std::num::NonZero::get).clamp(1, 8);
    // Ask first how big files go up: in parts (each hashed on its own) or whole, and whether
    // they may be hashed while they are sent.
    let (part_size, hash_from) = if ready.iter().any(|(_, size)| *size > MIN_PART_SIZE) {
        let answer = client.plan(target, Vec::new()).await?;
        (answer.part_size, answer.hash_while_sending_from)
    } else {
        (0, 0)
    };

    let progress_ref = &progress;
    let hashed = futures::stream::iter(ready).map(|(file, size)| async move {
        let progress = progress_ref;
        if hash_from > 0 && size >= hash_from && FileToStore::part_count(size, part_size) == 1 {
            progress.hashed();
            return Ok(Hashed { file, size, sha256: None, part_sha256: Vec::new() });
        }
        let phase = Instant::now();
        let result = hash_blocking(&file.local, part_size).await;
        tracing::trace!(path = %file.pretty_path, ms = phase.elapsed().as_millis() as u64, "hashed");
        progress.hashed();
        match result {
            Ok((size, sha256, part_sha256)) if size <= MAX_ARTIFACT_SIZE => {
                Ok(Hashed { file, size, sha256: Some(sha256), part_sha256 })
            }
            Ok((size, ..)) => {
                Err((file.pretty_path, format!("grew to {size} bytes, over the 3 GiB limit per artifact")))
            }
            Err(e) => Err((file.pretty_path, format!("cannot read {}: {e}", file.local.display()))),
        }
    });
    let batches = hashed
        .buffered(hashers)
        .chunks(BATCH)
        .map(|batch| send_batch(client, target, part_size, batch, &slots, &progress))
        .buffer_unordered(BATCHES_IN_FLIGHT)
        .collect::<Vec<_>>()
        .await;
    for batch in batches {
        report.merge(batch);
    }
    progress.bar.finish_and_clear();
    eprintln!(
        "vitrine: stored {} file(s), {} ({} already kept, not sent again) in {:.1} s{}",
        report.stored.len(),
        human_bytes(report.bytes),
        report.reused,
        started.elapsed().as_secs_f64(),
        if report.failed.is_empty() { String::new() } else { format!("; {} failed", report.failed.len()) }
    );
    Ok(report)
}

/// Plans, sends and confirms one batch.
async fn send_batch(
    client: &AgentClient,
    target: &BuildTarget,
    part_size: u64,
    batch: Vec<Result<Hashed, (String, String)>>,
    slots: &Arc<Semaphore>,
    progress: &Arc<Progress>,
) -> UploadReport {
    let mut report = UploadReport::default();
    let mut files = Vec::with_capacity(batch.len());
    for item in batch {
        match item {
            Ok(h) => files.push(h),
            Err((what, why)) => report.fail(&what, why),
        }
    }
    if files.is_empty() {
        return report;
    }
    let phase = Instant::now();
    let plans = match plan_batch(client, target, part_size, &mut files).await {
        Ok(plans) => plans,
        Err(e) => {
            let why = format!("{e:#}");
            for h in &files {
                report.fail(&h.file.pretty_path, why.clone());
            }
            return report;
        }
    };
    tracing::debug!(files = files.len(), ms = phase.elapsed().as_millis() as u64, "planned");
    let phase = Instant::now();
    let sizes: std::collections::HashMap<String, u64> =
        files.iter().map(|h| (h.file.pretty_path.clone(), h.size)).collect();
    let sent = futures::stream::iter(files.iter().zip(plans.iter()))
        .map(|(h, plan)| async move { (h, send(client, plan, h, slots, progress).await) })
        .buffer_unordered(client.concurrency)
        .collect::<Vec<_>>()
        .await;
    let mut done = Vec::new();
    for (h, result) in sent {
        match result {
            Ok(Some(d)) => done.push(d),
            Ok(None) => {
                report.stored.push(h.file.pretty_path.clone());
                report.reused += 1;
                report.bytes += h.size;
                progress.files_done(1);
            }
            Err(e) => report.fail(&h.file.pretty_path, format!("{e:#}")),
        }
    }
    if done.is_empty() {
        return report;
    }
    tracing::debug!(uploads = done.len(), ms = phase.elapsed().as_millis() as u64, "sent to the store");
    let phase = Instant::now();
    let count = done.len();
    let confirmed = client.complete(target, done).await;
    tracing::debug!(uploads = count, ms = phase.elapsed().as_millis() as u64, "confirmed by the server");
    match confirmed {
        Ok(outcomes) => {
            for outcome in outcomes {
                match outcome.error {
                    None => {
                        report.bytes += sizes.get(&outcome.pretty_path).copied().unwrap_or(0);
                        report.stored.push(outcome.pretty_path);
                    }
                    Some(why) => report.fail(&outcome.pretty_path, why),
                }
            }
        }
        Err(e) => report.fail(&format!("{count} file(s)"), format!("the server did not confirm them: {e:#}")),
    }
    progress.files_done(count);
    report
}

/// Plans a batch. Files the server wants hashed first (declared without a SHA-256, but the
/// project may keep them already) are hashed and planned again.
async fn plan_batch(
    client: &AgentClient,
    target: &BuildTarget,
    part_size: u64,
    files: &mut [Hashed],
) -> anyhow::Result<Vec<UploadPlan>> {
    let mut plans = client.plan(target, files.iter().map(Hashed::declare).collect()).await?.uploads;
    if plans.len() != files.len() {
        bail!("the server answered a plan for other files");
    }
    let again: Vec<usize> =
        plans.iter().enumerate().filter(|(_, p)| matches!(p, UploadPlan::HashFirst { .. })).map(|(i, _)| i).collect();
    if again.is_empty() {
        return Ok(plans);
    }
    for &i in &again {
        let h = &mut files[i];
        tracing::debug!(path = %h.file.pretty_path, "the server asked for its SHA-256 first");
        let (size, sha256, part_sha256) = hash_blocking(&h.file.local, part_size)
            .await
            .with_context(|| format!("cannot read {}", h.file.local.display()))?;
        if size != h.size {
            bail!("{} changed size while it was being stored", h.file.local.display());
        }
        (h.sha256, h.part_sha256) = (Some(sha256), part_sha256);
    }
    let replanned = client.plan(target, again.iter().map(|&i| files[i].declare()).collect()).await?.uploads;
    if replanned.len() != again.len() || replanned.iter().any(|p| matches!(p, UploadPlan::HashFirst { .. })) {
        bail!("the server answered a plan for other files");
    }
    for (i, plan) in again.into_iter().zip(replanned) {
        plans[i] = plan;
    }
    Ok(plans)
}

/// Sends one file as its plan says; answers what to confirm (`None`: nothing to confirm).
async fn send(
    client: &AgentClient,
    plan: &UploadPlan,
    file: &Hashed,
    slots: &Arc<Semaphore>,
    progress: &Arc<Progress>,
) -> anyhow::Result<Option<UploadDone>> {
    let (local, size) = (file.file.local.as_path(), file.size);
    let on_sent: SentBytes = {
        let progress = progress.clone();
        Arc::new(move |n| progress.sent(n))
    };
    let on_sent = &on_sent;
    match plan {
        UploadPlan::Stored { .. } => {
            progress.sent(size as i64);
            Ok(None)
        }
        UploadPlan::HashFirst { .. } => bail!("the server asked for this file's SHA-256 twice"),
        UploadPlan::Put { upload_id, request, .. } => {
            let _slot = slots.acquire().await.context("upload slots closed")?;
            let hash = file.sha256.is_none();
            let put = client.put_file(request, local, (0, size), hash, on_sent).await?;
            let sha256 = match put.sha256 {
                Some(sha256) => Some(sha256),
                // Stored by an attempt whose answer was lost: hash what was meant to be sent.
                None if hash => {
                    Some(hash_blocking(local, 0).await.with_context(|| format!("cannot read {}", local.display()))?.1)
                }
                None => None,
            };
            if hash {
                tracing::debug!(path = %file.file.pretty_path, "hashed while sent");
            }
            Ok(Some(UploadDone { upload_id: upload_id.clone(), sha256, parts: vec![] }))
        }
        UploadPlan::Multipart { upload_id, part_size, parts, .. } => {
            if *part_size == 0 || size.div_ceil(*part_size) != parts.len() as u64 {
                bail!("the server planned {} parts of {part_size} bytes for {size} bytes", parts.len());
            }
            let sent = futures::stream::iter(parts.iter().enumerate())
                .map(|(i, request)| async move {
                    let _slot = slots.acquire().await.context("upload slots closed")?;
                    let offset = i as u64 * part_size;
                    let len = (*part_size).min(size - offset);
                    let put = client.put_file(request, local, (offset, len), false, on_sent).await?;
                    Ok::<_, anyhow::Error>(CompletedPart {
                        part_number: i as i32 + 1,
                        etag: put.etag.unwrap_or_default(),
                    })
                })
                .buffer_unordered(parts.len())
                .collect::<Vec<_>>()
                .await;
            let mut done = sent.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
            done.sort_by_key(|p| p.part_number);
            Ok(Some(UploadDone { upload_id: upload_id.clone(), sha256: None, parts: done }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_files_hash_whole_and_by_part() {
        const PART: usize = 3 << 20;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.bin");
        let size = 2 * PART + 1234;
        let bytes: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &bytes).unwrap();
        let (n, whole, parts) = hash_file(&path, PART as u64).unwrap();
        assert_eq!(n, size as u64);
        assert_eq!(whole, hex::encode(Sha256::digest(&bytes)));
        let expected: Vec<String> = bytes.chunks(PART).map(|c| hex::encode(Sha256::digest(c))).collect();
        assert_eq!(parts, expected);
        let (_, again, parts) = hash_file(&path, 0).unwrap();
        assert_eq!((again, parts.len()), (whole, 0), "part size 0: whole files only");
        std::fs::write(&path, b"small").unwrap();
        let (_, _, parts) = hash_file(&path, PART as u64).unwrap();
        assert!(parts.is_empty(), "a one-part file goes up with one PUT");
    }
}
