//! The arguments of `vitrine admin`: its commands and how their values are read.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::domain::ProjectSlug;

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
    /// Give an identity at a provider to a user: signing in through that provider as that
    /// person is signing in as them (`user identities` lists who is who).
    Link {
        name: String,
        /// The provider's issuer URL, exactly as its ID tokens' `iss`.
        #[arg(long)]
        issuer: String,
        /// The person's `sub` at that provider.
        #[arg(long)]
        subject: String,
    },
    /// Take an identity away from whoever has it: its next sign-in makes a new user.
    Unlink {
        #[arg(long)]
        issuer: String,
        #[arg(long)]
        subject: String,
    },
    /// Who is who at the providers: every user's identities, or one user's.
    Identities { name: Option<String> },
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
    /// Give the members of an identity provider's group a role in the project, at each
    /// sign-in (`serve --oidc-groups-claim`); re-running it sets the role. Grants by hand stay.
    MapGroup {
        slug: ProjectSlug,
        group: String,
        #[arg(value_parser = parse_role)]
        role: vitrine_store::Role,
    },
    /// Stop a group giving a role in the project; what it gave is taken back at once.
    UnmapGroup { slug: ProjectSlug, group: String },
    /// The groups that give roles in the project.
    Groups { slug: ProjectSlug },
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

/// A token named by its id (from `token list`), or `None` for a token given in full: ids are
/// small numbers, tokens are 40 hex digits.
pub fn token_id(token: &str) -> Option<vitrine_store::TokenId> {
    let token = token.trim();
    token.parse().ok().filter(|_| token.len() < 20)
}
