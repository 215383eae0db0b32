//! The Vitrine agent: what runs on build machines. `run` gives a command an empty
//! `$CIRCLE_ARTIFACTS` and stores what it leaves there, `store-artifacts` is CircleCI's
//! `store_artifacts` step, `execute` runs one job of a `.circleci/config.yml` here. It speaks
//! to the server only through the agent API (`vitrine_wire::agent`) and links no server code,
//! so the `vitrine-agent` binary stays small.

pub mod client;
pub mod download;
pub mod duration;
pub mod execute;
pub mod paths;
pub mod run;
pub mod store_artifacts;
pub mod upload;

pub use vitrine_wire::domain;

use std::process::ExitCode;

use clap::Subcommand;

/// The agent's subcommands, shared by `vitrine` and `vitrine-agent`.
#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// Run a command with an empty $CIRCLE_ARTIFACTS directory, then store its files.
    Run(run::RunArgs),
    /// Store a file or directory as artifacts of the current build (the store_artifacts step).
    StoreArtifacts(store_artifacts::StoreArgs),
    /// Run one job of a CircleCI config on this machine, storing its artifacts.
    Execute(execute::ExecuteArgs),
    /// Fetch a build's artifacts (fan-in on another machine).
    Artifacts {
        #[command(subcommand)]
        command: download::ArtifactsCommand,
    },
}

/// Logs go to stderr, filtered by `VITRINE_LOG` (default: warnings).
pub fn init_tracing(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("VITRINE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

impl AgentCommand {
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        match self {
            AgentCommand::Run(args) => run::run(args).await,
            AgentCommand::StoreArtifacts(args) => store_artifacts::run(args).await,
            AgentCommand::Execute(args) => execute::run(args).await,
            AgentCommand::Artifacts { command } => download::run(command).await,
        }
    }
}
