//! `vitrine admin`: accounts and projects, straight in the data dir's database.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::core::accounts::{Accounts, PasswordChecks};
use crate::core::audit::AuditLog;
use crate::core::builds::Builds;
use crate::core::lookups::Lookups;
use crate::core::projects::Projects;
use crate::domain::ProjectSlug;
use vitrine_store::{AuditEvent, Db, TokenOwner};

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
    /// The audit log, oldest first: private artifacts read (by whom, with which token or
    /// session, from where) and every change made here or by members (pins).
    Audit {
        /// Only this project's events.
        #[arg(long)]
        project: Option<ProjectSlug>,
        /// From this time on: a date (2026-11-01), a time (2026-11-01T09:00:00Z) or a
        /// duration ago (7d, 12h).
        #[arg(long, value_parser = parse_since)]
        since: Option<i64>,
        /// At most this many of the newest events.
        #[arg(long, default_value_t = 1000)]
        limit: i64,
    },
    /// The key that signs artifacts-origin links (reports, traces).
    #[command(subcommand)]
    Capabilities(CapabilitiesCommand),
    /// Copy this SQLite store (users, tokens, sessions, projects, builds, artifacts, uploads,
    /// keys) into an empty PostgreSQL database; then serve with DATABASE_URL set to it.
    Migrate {
        /// The PostgreSQL database to fill: postgres://user:password@host/database
        #[arg(long, value_name = "POSTGRES_URL")]
        to: String,
    },
    /// Copy the data dir (the SQLite database, as one moment of it, and the embedded store's
    /// objects) into DEST, a new or empty folder, while the server runs. With PostgreSQL or
    /// another S3 service, back those up with their own tools (README, Backups).
    Backup { dest: std::path::PathBuf },
    /// Put a backup (SRC, the folder `backup` wrote) into the data dir, which must be new or
    /// empty; then serve it.
    Restore { src: std::path::PathBuf },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user; the password is read from standard input.
    Add {
        name: String,
        #[arg(long, required = true)]
        password_stdin: bool,
        /// An instance admin: sees every project, changes every setting, manages users.
        #[arg(long)]
        admin: bool,
    },
    /// Make a user an instance admin.
    Promote { name: String },
    /// Make an instance admin a plain user again (the last admin stays one).
    Demote { name: String },
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
    Create {
        name: String,
        /// `read` (the default), or `admin`: read and change what the user may change.
        #[arg(long, default_value = "read", value_parser = parse_scope)]
        scope: vitrine_store::Scope,
        /// It stops working after this long (30d, 90d, 365d); never, unless given.
        #[arg(long, value_parser = vitrine_agent::duration::parse_duration)]
        expires_in: Option<std::time::Duration>,
        /// A name to tell it apart in lists ("dashboard").
        #[arg(long, default_value = "")]
        label: String,
    },
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
    /// The branch whose last green build other branches compare their screenshots against
    /// when they have no green build of their own (`main` unless set), or `default`.
    DefaultBranch { slug: ProjectSlug, branch: String },
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
pub enum CapabilitiesCommand {
    /// Replace the key: every artifacts-origin link handed out so far stops working (within
    /// seconds on every server); pages opened again from the build page get new ones.
    Rotate,
}

#[derive(Debug, Subcommand)]
pub enum MemberCommand {
    /// Let a user see a private project (a member), or also change its settings (a
    /// maintainer). Re-running it sets the role.
    Add {
        slug: ProjectSlug,
        name: String,
        #[arg(long, default_value = "member", value_parser = parse_role)]
        role: vitrine_store::Role,
    },
    /// Take back the role granted by hand (roles from an identity provider's group stay).
    Remove { slug: ProjectSlug, name: String },
}

fn parse_role(text: &str) -> Result<vitrine_store::Role, String> {
    text.parse()
}

fn parse_scope(text: &str) -> Result<vitrine_store::Scope, String> {
    match text {
        "read" => Ok(vitrine_store::Scope::Read),
        "admin" => Ok(vitrine_store::Scope::Admin),
        other => Err(format!("`{other}` is not a scope: use `read` or `admin`")),
    }
}

fn parse_since(text: &str) -> Result<i64, String> {
    if let Ok(ago) = vitrine_agent::duration::parse_duration(text) {
        return Ok(chrono::Utc::now().timestamp() - ago.as_secs() as i64);
    }
    if let Ok(time) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(time.timestamp());
    }
    if let Ok(day) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(day.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc().timestamp());
    }
    Err(format!(
        "`{text}` is not a time: use a date (2026-11-01), a time (2026-11-01T09:00:00Z) or a duration ago (7d)"
    ))
}

fn when(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0).map_or(String::new(), |d| d.format("%Y-%m-%d %H:%M:%S UTC").to_string())
}

pub async fn run(args: AdminArgs) -> anyhow::Result<ExitCode> {
    super::serve::private_files();
    let change = super::admin_changes::change_of(&args.command);
    // A restore fills a data dir that must be empty: nothing is opened in it before.
    if let AdminCommand::Restore { src } = &args.command {
        anyhow::ensure!(args.database_url.is_none(), "restore fills a data dir's SQLite database: unset DATABASE_URL");
        restore(src, &args.data_dir).await?;
    }
    std::fs::create_dir_all(&args.data_dir)?;
    let db = Db::open(&args.data_dir, args.database_url.as_deref(), 2).await?;
    execute(&db, &args.data_dir, args.command).await?;
    if let Some((action, project, build_num, detail)) = change {
        let event = AuditEvent {
            at: chrono::Utc::now().timestamp(),
            actor: super::admin_changes::admin_actor(),
            user_id: None,
            token_id: None,
            action: action.as_str().to_owned(),
            project,
            build_num,
            detail,
            client: None,
            repeats: 1,
        };
        db.insert_audit(&[event]).await?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The features admin commands use: those of the metadata store alone (no S3 is reached).
struct Admin {
    accounts: Accounts,
    projects: Projects,
    builds: Builds,
    retention: crate::core::retention::Retention,
}

impl Admin {
    fn new(db: &Db) -> Admin {
        let lookups = Lookups::default();
        let projects = Projects::new(db, lookups.clone());
        let accounts = Accounts::new(db, PasswordChecks::new(1), lookups.clone(), projects.clone());
        // Build page links and the default retention are the server's business; commands
        // here neither link to pages nor expire builds.
        let builds = Builds::new(db, lookups.clone(), projects.clone(), AuditLog::start(db), String::new());
        let default_retention = crate::core::UploadSettings::default().artifact_retention;
        let retention =
            crate::core::retention::Retention::new(db, lookups, projects.clone(), builds.clone(), default_retention);
        Admin { accounts, projects, builds, retention }
    }
}

async fn execute(db: &Db, data_dir: &std::path::Path, command: AdminCommand) -> anyhow::Result<()> {
    let admin = Admin::new(db);
    match command {
        AdminCommand::Backup { dest } => backup(db, data_dir, &dest).await?,
        // Done before the data dir's store was opened (`run`).
        AdminCommand::Restore { .. } => {}
        AdminCommand::Audit { project, since, limit } => audit_log(db, project, since, limit).await?,
        AdminCommand::Capabilities(CapabilitiesCommand::Rotate) => {
            db.replace_shared_key(crate::serve::ARTIFACTS_ORIGIN_KEY, &crate::serve::fresh_key()).await?;
            println!(
                "The artifacts-origin key is replaced: links to reports and traces handed out before stop \
                 working within {} s on every server.",
                crate::serve::KEY_REFRESH.as_secs()
            );
        }
        AdminCommand::Migrate { to } => {
            let copied = db.copy_to_postgres(&to).await?;
            for (table, rows) in copied {
                println!("{table:>16}: {rows} row(s)");
            }
            println!("Copied into PostgreSQL. Serve with DATABASE_URL set to it; the S3 store stays as it is.");
        }
        AdminCommand::User(command) => users(&admin, command).await?,
        AdminCommand::Token(command) => tokens(&admin, command).await?,
        AdminCommand::Session(SessionCommand::Revoke { name }) => {
            let ended = admin.accounts.revoke_sessions(&name).await?;
            println!("Ended {ended} session(s) of {name}");
        }
        AdminCommand::Purge { project, build, path } => {
            let purged = admin.retention.purge(&project, build, path.as_deref()).await?;
            println!("Removed {} artifact(s) from listings.", purged.artifacts);
            println!(
                "{} object(s) leave the store at the server's next sweep (within a minute).",
                purged.doomed_objects
            );
            if purged.shared_objects > 0 {
                println!(
                    "{} object(s) stay: other artifacts list the same content (purge those too to remove it).",
                    purged.shared_objects
                );
            }
        }
        AdminCommand::Project(command) => projects(&admin, command).await?,
        AdminCommand::Build(command) => builds(&admin, command).await?,
        AdminCommand::Member(command) => members(&admin, command).await?,
    }
    Ok(())
}

/// `admin audit`: the log as a table.
async fn audit_log(db: &Db, project: Option<ProjectSlug>, since: Option<i64>, limit: i64) -> anyhow::Result<()> {
    let project = project.map(|p| p.short());
    let events = db.audit_events(project.as_deref(), since.unwrap_or(0), limit).await?;
    println!(
        "{:<23}  {:<24}  {:<22}  {:<24}  {:>6}  {:<15}  DETAIL",
        "TIME", "WHO", "ACTION", "PROJECT", "BUILD", "FROM"
    );
    for e in events {
        println!(
            "{:<23}  {:<24}  {:<22}  {:<24}  {:>6}  {:<15}  {}",
            when(e.at),
            e.actor,
            e.action,
            e.project.unwrap_or_default(),
            e.build_num.map_or(String::new(), |b| b.to_string()),
            e.client.unwrap_or_default(),
            if e.repeats > 1 { format!("{} ({} times)", e.detail, e.repeats) } else { e.detail }
        );
    }
    Ok(())
}

async fn users(admin: &Admin, command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Add { name, admin: is_admin, .. } => {
            let mut password = String::new();
            std::io::stdin().read_to_string(&mut password)?;
            let password = password.trim_end_matches(['\n', '\r']);
            admin.accounts.add_user(&name, password, is_admin).await?;
            println!("Added user {name}{}", if is_admin { ", an instance admin" } else { "" });
        }
        UserCommand::Promote { name } => {
            admin.accounts.set_admin(&name, true).await?;
            println!("{name} is an instance admin");
        }
        UserCommand::Demote { name } => {
            admin.accounts.set_admin(&name, false).await?;
            println!("{name} is no longer an instance admin");
        }
        UserCommand::Disable { name } => {
            admin.accounts.set_user_disabled(&name, true).await?;
            println!("{name} is disabled: signed out everywhere; their tokens are refused");
        }
        UserCommand::Enable { name } => {
            admin.accounts.set_user_disabled(&name, false).await?;
            println!("{name} is enabled");
        }
    }
    Ok(())
}

async fn tokens(admin: &Admin, command: TokenCommand) -> anyhow::Result<()> {
    match command {
        TokenCommand::Create { name, scope, expires_in, label } => {
            let user = admin.accounts.user(&name).await?;
            let expires_at = expires_in.map(|d| chrono::Utc::now().timestamp() + d.as_secs() as i64);
            let terms = vitrine_store::TokenTerms { label, scope, expires_at };
            let made = admin.accounts.create_user_token(user.id, &terms).await?;
            let ends = expires_at.map_or("it does not expire".to_owned(), |t| format!("it expires {}", when(t)));
            println!(
                "API token {} for {name}, scope {} ({ends}; shown once; keep it secret):",
                made.id,
                scope.as_str()
            );
            println!("{}", made.token);
        }
        TokenCommand::List { owner } => {
            let tokens = admin.accounts.tokens(owner.as_deref()).await?;
            println!("{:>6}  {:<7}  {:<32}  {:<23}  LAST USED", "ID", "KIND", "OWNER", "CREATED");
            for t in tokens {
                let kind = match t.owner {
                    TokenOwner::User(_) => "user",
                    TokenOwner::Project(_) => "build",
                    TokenOwner::Build { .. } => "running",
                };
                let used = t.last_used_at.map_or("never".to_owned(), when);
                println!("{:>6}  {kind:<7}  {:<32}  {:<23}  {used}", t.id, t.owner_name, when(t.created_at));
            }
        }
        TokenCommand::Revoke { token } => {
            match token_id(&token) {
                Some(id) => admin.accounts.revoke_token_by_id(id).await?,
                None => admin.accounts.revoke_token(&token).await?,
            }
            println!("Token revoked");
        }
    }
    Ok(())
}

async fn projects(admin: &Admin, command: ProjectCommand) -> anyhow::Result<()> {
    match command {
        ProjectCommand::Add { slug, public } => {
            admin.projects.add_project(&slug, public).await?;
            let visibility = if public { "public" } else { "private" };
            println!("Project {} is {visibility}", slug.short());
        }
        ProjectCommand::Token { slug } => {
            let made = admin.accounts.create_build_token(&slug).await?;
            println!("Build token {} for {} (shown once; keep it secret):", made.id, slug.short());
            println!("{}", made.token);
        }
        ProjectCommand::Retention { slug, retention } => {
            match retention {
                Retention::Default => {
                    admin.retention.set_retention(&slug, None).await?;
                    println!("{} keeps artifacts as long as the server's --artifact-retention", slug.short());
                }
                Retention::Keep(d) => {
                    admin.retention.set_retention(&slug, Some(d)).await?;
                    println!("{} keeps artifacts {} day(s)", slug.short(), d.as_secs() / 86400);
                }
            }
            println!("The latest successful build of each branch and pinned builds are always kept.");
        }
        ProjectCommand::DefaultBranch { slug, branch } => {
            let branch = Some(branch.as_str()).filter(|b| *b != "default");
            admin.projects.set_default_branch(&slug, branch).await?;
            let shown = branch.unwrap_or(crate::core::DEFAULT_BRANCH);
            println!("{} compares screenshots with the last green build of `{shown}` by default", slug.short());
        }
    }
    Ok(())
}

async fn builds(admin: &Admin, command: BuildCommand) -> anyhow::Result<()> {
    match command {
        BuildCommand::Pin { slug, build } => {
            admin.builds.pin_as_admin(&slug, build, true).await?;
            println!("Build {build} of {} is pinned: its artifacts are kept past the retention", slug.short());
        }
        BuildCommand::Unpin { slug, build } => {
            admin.builds.pin_as_admin(&slug, build, false).await?;
            println!("Build {build} of {} is no longer pinned", slug.short());
        }
    }
    Ok(())
}

async fn members(admin: &Admin, command: MemberCommand) -> anyhow::Result<()> {
    match command {
        MemberCommand::Add { slug, name, role } => {
            // The project first: when neither exists, the error names the project.
            admin.projects.project_for_admin(&slug).await?;
            let user = admin.accounts.user(&name).await?;
            admin.projects.add_member(&slug, &user, role).await?;
            match role {
                vitrine_store::Role::Member => println!("{name} can now see {}", slug.short()),
                vitrine_store::Role::Maintainer => {
                    println!("{name} can now see {} and change its settings", slug.short());
                }
            }
        }
        MemberCommand::Remove { slug, name } => {
            let project = admin.projects.project_for_admin(&slug).await?;
            let user = admin.accounts.user(&name).await?;
            admin.projects.remove_member(&project, &user).await?;
            println!("{name} can no longer see {} (unless it is public)", slug.short());
        }
    }
    Ok(())
}

/// A token named by its id (from `token list`), or `None` for a token given in full: ids are
/// small numbers, tokens are 40 hex digits.
pub(super) fn token_id(token: &str) -> Option<vitrine_store::TokenId> {
    let token = token.trim();
    token.parse().ok().filter(|_| token.len() < 20)
}

async fn backup(db: &Db, data_dir: &std::path::Path, dest: &std::path::Path) -> anyhow::Result<()> {
    let made = super::backup::backup(db, data_dir, dest).await?;
    match made.objects {
        None => println!(
            "Backed up the database into {}. Its {} listed object(s) are in your S3 service: back up the \
             bucket with that service's own tools (README, Backups).",
            dest.display(),
            made.listed
        ),
        Some(copied) => println!(
            "Backed up the database and {} object(s) ({} bytes) into {}; all {} object(s) the database \
             lists are in it.",
            copied.objects,
            copied.bytes,
            dest.display(),
            made.listed
        ),
    }
    Ok(())
}

async fn restore(src: &std::path::Path, data_dir: &std::path::Path) -> anyhow::Result<()> {
    let listed = super::backup::restore(src, data_dir).await?;
    println!(
        "Restored {} into {}: {listed} listed object(s), every one present. Serve it with \
         `vitrine serve --data-dir {}`.",
        src.display(),
        data_dir.display(),
        data_dir.display()
    );
    Ok(())
}
