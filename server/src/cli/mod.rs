//! The `vitrine` command line: `serve` and `admin` here, one file each; the agent's
//! subcommands (`run`, `store-artifacts`, `execute`) come from the `vitrine-agent` crate.

pub mod admin;
mod admin_args;
mod admin_changes;
pub mod backup;
mod oidc_args;
pub mod serve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use vitrine_agent::AgentCommand;

#[derive(Debug, Parser)]
#[command(name = "vitrine", version, about = "A self-hosted, CircleCI-compatible home for build artifacts")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API and the web UI (with an embedded S3 server and SQLite by default).
    Serve(Box<serve::ServeArgs>),
    /// Manage users, tokens, projects and members in the data dir.
    Admin(admin::AdminArgs),
    #[command(flatten)]
    Agent(AgentCommand),
}

pub fn run(cli: Cli) -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("vitrine: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => {
                let args = *args;
                let _flushed_at_exit =
                    crate::observe::init_logging(args.log_format, "info,sqlx=warn,s3s=warn,tower_http=warn");
                serve::run(args).await
            }
            Command::Admin(args) => {
                vitrine_agent::init_tracing("warn");
                admin::run(args).await
            }
            Command::Agent(command) => {
                vitrine_agent::init_tracing("warn");
                command.run().await
            }
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("vitrine: {e:#}");
            ExitCode::FAILURE
        }
    }
}
