//! The `vitrine` command line: one file per subcommand.

pub mod admin;
pub mod client;
pub mod execute;
pub mod paths;
pub mod run;
pub mod serve;
pub mod store_artifacts;
pub mod upload;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "vitrine", version, about = "A self-hosted, CircleCI-compatible home for build artifacts")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API and the web UI (with an embedded S3 server and SQLite by default).
    Serve(serve::ServeArgs),
    /// Manage users, tokens, projects and members in the data dir.
    Admin(admin::AdminArgs),
    /// Run a command with an empty $CIRCLE_ARTIFACTS directory, then store its files.
    Run(run::RunArgs),
    /// Store a file or directory as artifacts of the current build (the store_artifacts step).
    StoreArtifacts(store_artifacts::StoreArgs),
    /// Run one job of a CircleCI config on this machine, storing its artifacts.
    Execute(execute::ExecuteArgs),
}

fn init_tracing(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("VITRINE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
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
                init_tracing("info,sqlx=warn,s3s=warn,s3s_fs=warn,tower_http=warn");
                serve::run(args).await
            }
            Command::Admin(args) => {
                init_tracing("warn");
                admin::run(args).await
            }
            Command::Run(args) => {
                init_tracing("warn");
                run::run(args).await
            }
            Command::StoreArtifacts(args) => {
                init_tracing("warn");
                store_artifacts::run(args).await
            }
            Command::Execute(args) => {
                init_tracing("warn");
                execute::run(args).await
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
