//! `vitrine artifacts download [--build N|latest] [--branch B] GLOB [DEST]`: fetches a build's
//! artifacts on another machine (fan-in: the next job of a pipeline), in parallel, checking each
//! file's size and SHA-256 before it takes its place under DEST.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use futures::StreamExt;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::client::{AgentClient, Failure, classify, refused};
use super::store_artifacts::ServerArgs;
use crate::domain::{BuildNum, PrettyPath, StatusFilter};

#[derive(Debug, Subcommand)]
pub enum ArtifactsCommand {
    /// Download a build's artifacts whose path matches GLOB into DEST.
    Download(DownloadArgs),
}

#[derive(Debug, Args)]
pub struct DownloadArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// A build number, or `latest` (the newest build matching --branch and --filter).
    #[arg(long, default_value = "latest")]
    pub build: String,
    /// With `latest`: the branch to look at.
    #[arg(long)]
    pub branch: Option<String>,
    /// With `latest`: completed (any finished build), successful, failed or running.
    #[arg(long, default_value = "completed")]
    pub filter: String,
    /// Only this node's artifacts.
    #[arg(long)]
    pub node: Option<i64>,
    /// Which artifacts, matched against their path: `*` stays within a folder, `**` crosses
    /// folders (`**/*.png`, `coverage/**`).
    pub glob: String,
    /// Where to put them (their paths are kept below it).
    #[arg(default_value = ".")]
    pub dest: PathBuf,
}

/// An artifact as the v1.1 listing gives it.
#[derive(Debug, Clone, Deserialize)]
struct Listed {
    pretty_path: String,
    node_index: i64,
    url: String,
    size: Option<u64>,
    sha256: Option<String>,
}

pub async fn run(command: ArtifactsCommand) -> anyhow::Result<ExitCode> {
    match command {
        ArtifactsCommand::Download(args) => download(args).await,
    }
}

async fn download(args: DownloadArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let client = args.server.client()?;
    let glob = globset::GlobBuilder::new(&args.glob)
        .literal_separator(true)
        .build()
        .with_context(|| format!("invalid GLOB `{}`", args.glob))?
        .compile_matcher();
    let build = if args.build == "latest" {
        let filter: StatusFilter = args.filter.parse()?;
        let mut query = format!("filter={}", filter_name(filter));
        if let Some(branch) = &args.branch {
            query.push_str(&format!("&branch={}", encode(branch)));
        }
        format!("latest/artifacts?{query}")
    } else {
        let num: BuildNum = args.build.parse()?;
        format!("{num}/artifacts")
    };
    let p = client.project();
    let path = format!("/api/v1.1/project/{}/{}/{}/{build}", p.vcs.as_str(), p.org, p.repo);
    let listed: Vec<Listed> = client.get_json(&path).await?;
    let chosen: Vec<Listed> = listed
        .into_iter()
        .filter(|a| glob.is_match(&a.pretty_path) && args.node.is_none_or(|n| n == a.node_index))
        .collect();
    let mut by_path: HashMap<&str, Vec<i64>> = HashMap::new();
    for a in &chosen {
        by_path.entry(&a.pretty_path).or_default().push(a.node_index);
    }
    if let Some((path, nodes)) = by_path.iter().find(|(_, nodes)| nodes.len() > 1) {
        bail!("{path} was stored by nodes {nodes:?}: choose one with --node");
    }
    if chosen.is_empty() {
        eprintln!("vitrine: no artifact matches `{}`", args.glob);
        return Ok(ExitCode::FAILURE);
    }
    tokio::fs::create_dir_all(&args.dest).await.with_context(|| format!("cannot create {}", args.dest.display()))?;
    let (client, args) = (&client, &args);
    let results = futures::stream::iter(&chosen)
        .map(|a| async move {
            let result = fetch(client, a, &args.dest).await;
            (a, result)
        })
        .buffer_unordered(client.concurrency)
        .collect::<Vec<_>>()
        .await;
    let mut bytes = 0;
    let mut failed = 0;
    for (a, result) in results {
        match result {
            Ok(n) => bytes += n,
            Err(e) => {
                failed += 1;
                eprintln!("vitrine: {}: not downloaded: {e:#}", a.pretty_path);
            }
        }
    }
    eprintln!(
        "vitrine: downloaded {} file(s), {} into {} in {:.1} s{}",
        chosen.len() - failed,
        indicatif::HumanBytes(bytes),
        args.dest.display(),
        started.elapsed().as_secs_f64(),
        if failed > 0 { format!("; {failed} failed") } else { String::new() }
    );
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn filter_name(filter: StatusFilter) -> &'static str {
    match filter {
        StatusFilter::Completed => "completed",
        StatusFilter::Successful => "successful",
        StatusFilter::Failed => "failed",
        StatusFilter::Running => "running",
    }
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Downloads one artifact to `dest/<its path>` through a temporary file; answers its size.
async fn fetch(client: &AgentClient, a: &Listed, dest: &Path) -> anyhow::Result<u64> {
    // The listing is untrusted too: its paths must stay below DEST.
    let relative = PrettyPath::try_from(a.pretty_path.clone())?;
    let target = dest.join(relative.as_str());
    let dir = target.parent().unwrap_or(dest).to_path_buf();
    tokio::fs::create_dir_all(&dir).await.with_context(|| format!("cannot create {}", dir.display()))?;
    let what = format!("downloading {}", a.pretty_path);
    client
        .retrying(&what, || async {
            // The artifact route answers a redirect to the store; follow it without the token.
            let first =
                client.http().get(&a.url).header("Circle-Token", client.token()).send().await.map_err(classify)?;
            let response = if first.status().is_redirection() {
                let location = first
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| Failure::Final(anyhow::anyhow!("a redirect without a location")))?
                    .to_owned();
                client.http().get(location).send().await.map_err(classify)?
            } else {
                first
            };
            let status = response.status();
            if !status.is_success() {
                let e = anyhow::anyhow!("the server answered {status}");
                return Err(refused(status, response.headers(), e));
            }
            let tmp = tempfile::NamedTempFile::new_in(&dir).map_err(|e| Failure::Final(e.into()))?;
            let (file, tmp_path) = tmp.into_parts();
            let mut out = tokio::fs::File::from_std(file);
            let mut hasher = Sha256::new();
            let mut size = 0u64;
            let mut body = response.bytes_stream();
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(classify)?;
                hasher.update(&chunk);
                size += chunk.len() as u64;
                out.write_all(&chunk).await.map_err(|e| Failure::Final(e.into()))?;
            }
            out.flush().await.map_err(|e| Failure::Final(e.into()))?;
            let sha256 = hex::encode(hasher.finalize());
            if a.size.is_some_and(|s| s != size) || a.sha256.as_deref().is_some_and(|s| s != sha256) {
                return Err(Failure::Final(anyhow::anyhow!(
                    "the bytes received do not match the listing ({size} bytes, sha256 {sha256})"
                )));
            }
            tmp_path.persist(&target).map_err(|e| Failure::Final(e.error.into()))?;
            Ok(size)
        })
        .await
}
