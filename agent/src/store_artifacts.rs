//! `vitrine store-artifacts --path P [--destination D]`: the `store_artifacts` step. Inside
//! `vitrine run` the server, token, project, build and node come from the environment.

use std::process::ExitCode;

use clap::Args;

use std::path::PathBuf;
use std::time::Duration;

use super::client::{AgentClient, BuildTarget, resolve_token};
use super::duration::parse_duration;
use super::paths::store_step_files;
use super::upload::{UploadReport, upload};
use crate::domain::{BuildNum, NodeIndex, ProjectSlug};

/// Where an agent command sends its files, and how hard it tries.
#[derive(Debug, Args, Clone)]
pub struct ServerArgs {
    /// The Vitrine server.
    #[arg(long, env = "VITRINE_URL")]
    pub server: String,
    /// The project's build token. Prefer the VITRINE_TOKEN variable or --token-file: a flag is
    /// visible to every user of the machine in the process list.
    #[arg(long, env = "VITRINE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// A file holding the build token.
    #[arg(long, env = "VITRINE_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
    /// The project, as VCS/ORG/REPO (gh/acme/widgets).
    #[arg(long, env = "VITRINE_PROJECT")]
    pub project: ProjectSlug,
    /// How long to keep retrying a request that failed for a passing reason (server or store
    /// restarting, connection reset, timeout, 5xx, 429), e.g. 2m, 90s.
    #[arg(long, env = "VITRINE_RETRY_FOR", default_value = "2m", value_parser = parse_duration)]
    pub retry_for: Duration,
    /// How many uploads run at once.
    #[arg(long, env = "VITRINE_UPLOAD_CONCURRENCY", default_value_t = 32)]
    pub concurrency: usize,
}

impl ServerArgs {
    pub fn client(&self) -> anyhow::Result<AgentClient> {
        let token = resolve_token(self.token.as_deref(), self.token_file.as_ref())?;
        let mut client = AgentClient::new(&self.server, token, self.project.clone(), self.retry_for)?;
        client.concurrency = self.concurrency.clamp(1, 256);
        Ok(client)
    }
}

#[derive(Debug, Args)]
pub struct StoreArgs {
    /// The file or directory to store (relative paths resolve against the working directory).
    #[arg(long)]
    pub path: String,
    /// A prefix for the stored paths (the file's own name for a file).
    #[arg(long)]
    pub destination: Option<String>,
    #[command(flatten)]
    pub server: ServerArgs,
    #[arg(long, env = "CIRCLE_BUILD_NUM")]
    pub build_num: BuildNum,
    #[arg(long, env = "CIRCLE_NODE_INDEX", default_value = "0")]
    pub node_index: NodeIndex,
}

/// Collects and uploads one store step's files; prints what happened.
pub async fn store(
    client: &AgentClient,
    target: &BuildTarget,
    cwd: &std::path::Path,
    path: &str,
    destination: Option<&str>,
) -> anyhow::Result<UploadReport> {
    let files = store_step_files(cwd, path, destination)?;
    if files.is_empty() {
        eprintln!("vitrine: no files found in {path}; nothing stored");
    }
    let report = upload(client, target, files).await?;
    eprintln!(
        "vitrine: stored {} artifact(s) from {path}{}",
        report.stored.len(),
        if report.failed.is_empty() { String::new() } else { format!(", {} failed", report.failed.len()) }
    );
    Ok(report)
}

pub async fn run(args: StoreArgs) -> anyhow::Result<ExitCode> {
    let client = args.server.client()?;
    let target = BuildTarget { build_num: args.build_num, node_index: args.node_index };
    let cwd = std::env::current_dir()?;
    let report = store(&client, &target, &cwd, &args.path, args.destination.as_deref()).await?;
    Ok(if report.ok() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
