//! `vitrine admin`: accounts and projects, straight in the data dir's database.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::db::{Db, TokenOwner};
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
    /// Builds: pin one to keep its artifacts.
    #[command(subcommand)]
    Build(BuildCommand),
    /// Browser sessions.
    #[command(subcommand)]
    Session(SessionCommand),
    /// Remove artifacts now (a secret that leaked into a log): a project's, a build's, or one
    /// path of a build. They leave listings at once; the server deletes their objects from
    /// the store within a sweep (a minute).
    Purge {
        project: ProjectSlug,
        /// Only this build.
        build: Option<crate::domain::BuildNum>,
        /// Only this path of the build (as listed, e.g. '$CIRCLE_ARTIFACTS/build.log').
        #[arg(requires = "build")]
        path: Option<String>,
    },
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
    /// Stop a user at once: no sign-in, sessions ended, tokens refused (kept for `enable`).
    Disable { name: String },
    /// Let a disabled user back in (their tokens work again).
    Enable { name: String },
}

#[derive(Debug, Subcommand)]
pub enum SessionCommand {
    /// End every browser session of a user.
    Revoke { name: String },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an API token for a user; prints it alone on the last line.
    Create { name: String },
    /// List tokens (id, owner, created, last used): all, a user's, or a project's.
    List {
        /// A username or a project (gh/acme/widgets).
        owner: Option<String>,
    },
    /// Revoke a token by its id (from `token list`) or by the token itself.
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
    /// How long this project's artifacts are kept (e.g. 90d), or `default` for the server's
    /// --artifact-retention. The latest successful build of each branch and pinned builds are
    /// always kept.
    Retention {
        slug: ProjectSlug,
        #[arg(value_parser = parse_retention)]
        retention: Retention,
    },
}

#[derive(Debug, Clone, Copy)]
pub enum Retention {
    Default,
    Keep(std::time::Duration),
}

fn parse_retention(text: &str) -> Result<Retention, String> {
    if text == "default" {
        return Ok(Retention::Default);
    }
    match vitrine_agent::duration::parse_duration(text)? {
        d if d.as_secs() < 86400 => Err(format!("`{text}`: keep artifacts a day (1d) or longer")),
        d => Ok(Retention::Keep(d)),
    }
}

#[derive(Debug, Subcommand)]
pub enum BuildCommand {
    /// Keep a build's artifacts past the retention (a release, a baseline).
    Pin { slug: ProjectSlug, build: crate::domain::BuildNum },
    /// Let the retention apply to a build again.
    Unpin { slug: ProjectSlug, build: crate::domain::BuildNum },
}

#[derive(Debug, Subcommand)]
pub enum MemberCommand {
    /// Let a user see a private project.
    Add { slug: ProjectSlug, name: String },
    /// Stop a user seeing a private project.
    Remove { slug: ProjectSlug, name: String },
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
        AdminCommand::Token(TokenCommand::List { owner }) => {
            let tokens = accounts.tokens(owner.as_deref()).await?;
            println!("{:>6}  {:<7}  {:<32}  {:<20}  LAST USED", "ID", "KIND", "OWNER", "CREATED");
            for t in tokens {
                let kind = match t.owner {
                    TokenOwner::User(_) => "user",
                    TokenOwner::Project(_) => "build",
                    TokenOwner::Build { .. } => "running",
                };
                let when = |t: i64| {
                    chrono::DateTime::from_timestamp(t, 0)
                        .map_or(String::new(), |d| d.format("%Y-%m-%d %H:%M UTC").to_string())
                };
                let used = t.last_used_at.map_or("never".to_owned(), when);
                println!("{:>6}  {kind:<7}  {:<32}  {:<20}  {used}", t.id, t.owner_name, when(t.created_at));
            }
        }
        AdminCommand::Token(TokenCommand::Revoke { token }) => {
            // Ids are small numbers; tokens are 40 hex digits.
            match token.trim().parse::<i64>() {
                Ok(id) if token.trim().len() < 20 => accounts.revoke_token_by_id(id).await?,
                _ => accounts.revoke_token(&token).await?,
            }
            println!("Token revoked");
        }
        AdminCommand::User(UserCommand::Disable { name }) => {
            accounts.set_user_disabled(&name, true).await?;
            println!("{name} is disabled: signed out everywhere; their tokens are refused");
        }
        AdminCommand::User(UserCommand::Enable { name }) => {
            accounts.set_user_disabled(&name, false).await?;
            println!("{name} is enabled");
        }
        AdminCommand::Purge { project, build, path } => {
            let (removed, doomed, kept) = accounts.purge(&project, build, path.as_deref()).await?;
            println!("Removed {removed} artifact(s) from listings.");
            println!("{doomed} object(s) leave the store at the server's next sweep (within a minute).");
            if kept > 0 {
                println!(
                    "{kept} object(s) stay: other artifacts list the same content (purge those too to remove it)."
                );
            }
        }
        AdminCommand::Session(SessionCommand::Revoke { name }) => {
            let ended = accounts.revoke_sessions(&name).await?;
            println!("Ended {ended} session(s) of {name}");
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
        AdminCommand::Project(ProjectCommand::Retention { slug, retention }) => {
            match retention {
                Retention::Default => {
                    accounts.set_retention(&slug, None).await?;
                    println!("{} keeps artifacts as long as the server's --artifact-retention", slug.short());
                }
                Retention::Keep(d) => {
                    accounts.set_retention(&slug, Some(d)).await?;
                    println!("{} keeps artifacts {} day(s)", slug.short(), d.as_secs() / 86400);
                }
            }
            println!("The latest successful build of each branch and pinned builds are always kept.");
        }
        AdminCommand::Build(BuildCommand::Pin { slug, build }) => {
            accounts.set_pinned(&slug, build, true).await?;
            println!("Build {build} of {} is pinned: its artifacts are kept past the retention", slug.short());
        }
        AdminCommand::Build(BuildCommand::Unpin { slug, build }) => {
            accounts.set_pinned(&slug, build, false).await?;
            println!("Build {build} of {} is no longer pinned", slug.short());
        }
        AdminCommand::Member(MemberCommand::Add { slug, name }) => {
            accounts.add_member(&slug, &name).await?;
            println!("{name} can now see {}", slug.short());
        }
        AdminCommand::Member(MemberCommand::Remove { slug, name }) => {
            accounts.remove_member(&slug, &name).await?;
            println!("{name} can no longer see {} (unless it is public)", slug.short());
        }
    }
    Ok(ExitCode::SUCCESS)
}
