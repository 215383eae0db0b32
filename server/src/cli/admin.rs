//! `vitrine admin`: accounts and projects, straight in the data dir's database.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::db::Db;
use crate::domain::ProjectSlug;
use crate::services::accounts::Accounts;

#[derive(Debug, Args)]
pub struct AdminArgs {
    #[arg(long, env = "VITRINE_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Metadata database (default: SQLite in the data dir).
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    #[command(subcommand)]
    pub command: AdminCommand,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Users who sign in to the web UI.
    #[command(subcommand)]
    User(UserCommand),
    /// Personal API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Projects, and their build tokens.
    #[command(subcommand)]
    Project(ProjectCommand),
    /// Who may see a private project.
    #[command(subcommand)]
    Member(MemberCommand),
    /// Copy this SQLite store (users, tokens, sessions, projects, builds, artifacts, uploads,
    /// keys) into an empty PostgreSQL database; then serve with DATABASE_URL set to it.
    Migrate {
        /// The PostgreSQL database to fill: postgres://user:password@host/database
        #[arg(long, value_name = "POSTGRES_URL")]
        to: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user; the password is read from standard input.
    Add {
        name: String,
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an API token for a user; prints it alone on the last line.
    Create { name: String },
    /// Revoke an API or build token.
    Revoke { token: String },
}

#[derive(Debug, Subcommand)]
pub enum ProjectCommand {
    /// Add a project (private unless --public). Re-running it updates the visibility.
    Add {
        slug: ProjectSlug,
        #[arg(long)]
        public: bool,
    },
    /// Create a build token for a project; prints it alone on the last line.
    Token { slug: ProjectSlug },
}

#[derive(Debug, Subcommand)]
pub enum MemberCommand {
    /// Let a user see a private project.
    Add { slug: ProjectSlug, name: String },
}

pub async fn run(args: AdminArgs) -> anyhow::Result<ExitCode> {
    super::serve::private_files();
    std::fs::create_dir_all(&args.data_dir)?;
    let db = Db::open(&args.data_dir, args.database_url.as_deref(), 2).await?;
    let passwords = crate::services::accounts::PasswordChecks::new(1);
    let accounts = Accounts { db: &db, passwords: &passwords };
    match args.command {
        AdminCommand::Migrate { to } => {
            let copied = db.copy_to_postgres(&to).await?;
            for (table, rows) in copied {
                println!("{table:>16}: {rows} row(s)");
            }
            println!("Copied into PostgreSQL. Serve with DATABASE_URL set to it; the S3 store stays as it is.");
        }
        AdminCommand::User(UserCommand::Add { name, .. }) => {
            let mut password = String::new();
            std::io::stdin().read_to_string(&mut password)?;
            let password = password.trim_end_matches(['\n', '\r']);
            accounts.add_user(&name, password).await?;
            println!("Added user {name}");
        }
        AdminCommand::Token(TokenCommand::Create { name }) => {
            let token = accounts.create_user_token(&name).await?;
            println!("API token for {name} (shown once; keep it secret):");
            println!("{token}");
        }
        AdminCommand::Token(TokenCommand::Revoke { token }) => {
            accounts.revoke_token(&token).await?;
            println!("Token revoked");
        }
        AdminCommand::Project(ProjectCommand::Add { slug, public }) => {
            accounts.add_project(&slug, public).await?;
            let visibility = if public { "public" } else { "private" };
            println!("Project {} is {visibility}", slug.short());
        }
        AdminCommand::Project(ProjectCommand::Token { slug }) => {
            let token = accounts.create_build_token(&slug).await?;
            println!("Build token for {} (shown once; keep it secret):", slug.short());
            println!("{token}");
        }
        AdminCommand::Member(MemberCommand::Add { slug, name }) => {
            accounts.add_member(&slug, &name).await?;
            println!("{name} can now see {}", slug.short());
        }
    }
    Ok(ExitCode::SUCCESS)
}
