//! `vitrine run -- CMD`: the v1-style `$CIRCLE_ARTIFACTS` flow. Creates (or joins) the build,
//! gives the command an empty artifacts directory, runs it, stores what it left there.

use std::process::ExitCode;

use clap::Args;

use super::client::BuildTarget;
use super::paths::circle_artifacts_files;
use super::store_artifacts::ServerArgs;
use super::upload::upload;
use vitrine_wire::agent::StartRequest;

use crate::domain::{BuildNum, BuildStatus, NodeIndex};

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    #[arg(long, env = "CIRCLE_BRANCH", default_value = "main")]
    pub branch: String,
    #[arg(long, env = "CIRCLE_SHA1", default_value = "")]
    pub revision: String,
    /// Join this existing build instead of creating one.
    #[arg(long)]
    pub build_num: Option<BuildNum>,
    #[arg(long, default_value = "0")]
    pub node_index: NodeIndex,
    /// How many nodes the build has; it is closed once all of them finished.
    #[arg(long, env = "CIRCLE_NODE_TOTAL")]
    pub node_total: Option<i64>,
    /// The command to run, after `--`.
    #[arg(last = true, required = true, num_args = 1..)]
    pub command: Vec<String>,
}

/// The exit code a shell would give: the process's own, or 128 + the signal that ended it.
pub fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

pub async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let client = args.server.client()?;
    let request = StartRequest {
        branch: Some(args.branch.clone()),
        revision: Some(args.revision.clone()),
        build_num: args.build_num,
        node_index: Some(args.node_index.0),
        node_total: args.node_total,
    };
    let started = client.start_build(&request).await?;
    let build_num = BuildNum(started.build_num);
    let dir = tempfile::Builder::new().prefix("vitrine-artifacts-").tempdir()?;
    let project = client.project().clone();

    let status = tokio::process::Command::new(&args.command[0])
        .args(&args.command[1..])
        .env("CIRCLE_ARTIFACTS", dir.path())
        .env("CIRCLE_BUILD_NUM", build_num.to_string())
        .env("CIRCLE_NODE_INDEX", args.node_index.to_string())
        .env("CIRCLE_NODE_TOTAL", started.node_total.to_string())
        .env("CIRCLE_BRANCH", &args.branch)
        .env("CIRCLE_SHA1", &args.revision)
        .env("CIRCLE_PROJECT_USERNAME", &project.org)
        .env("CIRCLE_PROJECT_REPONAME", &project.repo)
        .env("CIRCLE_BUILD_URL", &started.build_url)
        .env("CI", "true")
        .env("VITRINE_URL", client.server())
        // Not the project's token: one that can only add artifacts to this build while it runs.
        .env("VITRINE_TOKEN", &started.build_token)
        .env_remove("VITRINE_TOKEN_FILE")
        .env("VITRINE_PROJECT", project.short())
        .status()
        .await;
    let code = match status {
        Ok(s) => exit_code(s),
        Err(e) => {
            eprintln!("vitrine: cannot run `{}`: {e}", args.command[0]);
            127
        }
    };

    let target = BuildTarget { build_num, node_index: args.node_index };
    let report = match circle_artifacts_files(dir.path()) {
        Ok(files) => upload(&client, &target, files).await?,
        Err(e) => {
            eprintln!("vitrine: cannot read $CIRCLE_ARTIFACTS: {e:#}");
            let mut r = super::upload::UploadReport::default();
            r.failed.push(("$CIRCLE_ARTIFACTS".into(), e.to_string()));
            r
        }
    };
    let status = if code == 0 && report.ok() { BuildStatus::Success } else { BuildStatus::Failed };
    let finished = client.finish(&target, status).await?;
    eprintln!(
        "vitrine: stored {} artifact(s); container {} {}; build {build_num} is {}: {}",
        report.stored.len(),
        args.node_index,
        status.as_str(),
        finished.status.as_str(),
        started.build_url
    );
    let code = if code == 0 && !report.ok() { 1 } else { code };
    Ok(ExitCode::from(code.clamp(0, 255) as u8))
}
