//! What the metadata store holds, as the services see it: no sqlx types here (rows are mapped
//! to these at the store's boundary, in `rows.rs`). API and UI shapes are built from them.

use vitrine_wire::domain::{BuildStatus, Sha256, VcsType};

pub use super::ids::{BuildId, ProjectId, TokenId, UserId};

#[derive(Debug, Clone)]
pub struct User {
    pub id: UserId,
    pub username: String,
    pub password_hash: String,
    /// An admin disabled the account: no sign-in, its tokens and sessions do nothing.
    pub disabled: bool,
    /// An instance admin: may see and change everything.
    pub admin: bool,
}

/// A user as the admin page lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSummary {
    pub id: UserId,
    pub username: String,
    pub admin: bool,
    pub disabled: bool,
    pub created_at: i64,
}

/// What a person may do in a project: a member reads it, a maintainer also changes its
/// settings. Ordered: a maintainer is more than a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Member,
    Maintainer,
}

impl Role {
    /// As stored and as written in commands and forms: `member`, `maintainer`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Member => "member",
            Role::Maintainer => "maintainer",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Role, String> {
        match s {
            "member" => Ok(Role::Member),
            "maintainer" => Ok(Role::Maintainer),
            other => Err(format!("`{other}` is not a role: use `member` or `maintainer`")),
        }
    }
}

/// Where a grant of a role came from: by hand (a command, the settings page) or from an
/// identity provider's group. Each source's grant stands alone: removing one leaves the others.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum GrantSource {
    Hand,
    /// `group:NAME`: the group's members get the role at sign-in, and lose it with the group.
    Group(String),
}

impl GrantSource {
    /// As stored: `hand`, `group:platform-team`.
    pub fn stored(&self) -> String {
        match self {
            GrantSource::Hand => "hand".to_owned(),
            GrantSource::Group(name) => format!("group:{name}"),
        }
    }

    pub fn from_stored(s: &str) -> GrantSource {
        match s.strip_prefix("group:") {
            Some(name) => GrantSource::Group(name.to_owned()),
            None => GrantSource::Hand,
        }
    }
}

/// One grant of a role in a project to a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub user_id: UserId,
    pub username: String,
    pub role: Role,
    pub source: GrantSource,
    pub granted_at: i64,
}

/// What a personal token may do: read what its owner may read, or also change what its
/// owner may change (settings, members, tokens).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    Read,
    Admin,
}

impl Scope {
    /// As stored and as written in forms: `read`, `admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Admin => "admin",
        }
    }

    /// What is stored; anything unknown reads as the lesser scope.
    pub fn from_stored(s: &str) -> Scope {
        if s == "admin" { Scope::Admin } else { Scope::Read }
    }
}

/// A new token's name, scope and end (`None`: it never expires).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenTerms {
    pub label: String,
    pub scope: Scope,
    pub expires_at: Option<i64>,
}

impl TokenTerms {
    /// A build token, or a token made by a command without terms: unnamed, reading, forever.
    pub fn plain() -> TokenTerms {
        TokenTerms { label: String::new(), scope: Scope::Read, expires_at: None }
    }
}

/// A browser session as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    pub id: i64,
    pub created_at: i64,
    pub expires_at: i64,
    /// The browser's User-Agent when it signed in (empty before this was kept).
    pub agent: String,
    /// The session asking.
    pub current: bool,
}

/// One line of the audit log: who did what, when, from where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// Unix time.
    pub at: i64,
    /// `alice (token 12)`, `alice (session)`, `build token 3`, `admin (root)`.
    pub actor: String,
    pub user_id: Option<UserId>,
    pub token_id: Option<TokenId>,
    /// `artifact.read`, `build.pin`, `admin.token.revoke`, ...
    pub action: String,
    /// The project's short slug (`gh/acme/widgets`), as it was named then.
    pub project: Option<String>,
    pub build_num: Option<i64>,
    /// What was read or changed: an artifact's container and path, a token's id, ...
    pub detail: String,
    /// The client's address, when it came over HTTP.
    pub client: Option<String>,
    /// How many times it happened within the writer's window (from `at`, at most a second):
    /// the same read repeated is one line.
    pub repeats: i64,
}

/// A token as an admin sees it (never the token itself: only its hash is kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    pub id: TokenId,
    pub owner: TokenOwner,
    /// `alice`, `gh/acme/widgets`, or `gh/acme/widgets build 12`.
    pub owner_name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub label: String,
    pub scope: Scope,
    pub expires_at: Option<i64>,
}

/// A token found by its hash: which one, whose, what it may do, and when it was last used
/// and ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenFound {
    pub id: TokenId,
    pub owner: TokenOwner,
    pub last_used_at: Option<i64>,
    pub scope: Scope,
    pub expires_at: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenOwner {
    User(UserId),
    Project(ProjectId),
    /// A running build's own token: adds artifacts to that build only.
    Build {
        project_id: ProjectId,
        build_id: BuildId,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    pub id: ProjectId,
    pub vcs: VcsType,
    pub org: String,
    pub repo: String,
    pub public: bool,
}

impl Project {
    /// `gh/acme/widgets`
    pub fn short_slug(&self) -> String {
        format!("{}/{}/{}", self.vcs.short(), self.org, self.repo)
    }

    /// `github/acme/widgets`, the form in API routes.
    pub fn long_slug(&self) -> String {
        format!("{}/{}/{}", self.vcs.as_str(), self.org, self.repo)
    }
}

pub struct NewBuild {
    pub branch: String,
    pub revision: String,
    /// How many nodes the build has; it closes once that many finished.
    pub parallelism: i64,
    /// The agent that started it (`vitrine/0.2.0`), as it named itself.
    pub agent: Option<String>,
}

/// A pin on a build: who set it (`None`: an administrator) and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pin {
    pub by: Option<UserId>,
    pub at: i64,
}

/// A build whose artifacts are past its project's retention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpiredBuild {
    pub project_id: ProjectId,
    pub build_id: BuildId,
}

/// What a purge did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Purged {
    /// Artifacts taken out of listings.
    pub artifacts: u64,
    /// Objects that leave the store at the next sweep.
    pub doomed_objects: u64,
    /// Objects that stay because other artifacts list the same content.
    pub shared_objects: u64,
}

/// What finishing a node did to its build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeFinish {
    /// Recorded now; other nodes are still running.
    Recorded,
    /// Recorded now, and it was the last node: the build is closed with this status.
    Closed(BuildStatus),
    /// The node had already finished with this same status (a retried call).
    AlreadyFinished,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Build {
    pub id: BuildId,
    pub project_id: ProjectId,
    pub build_num: i64,
    pub branch: String,
    pub revision: String,
    pub status: BuildStatus,
    pub parallelism: i64,
    pub start_time: i64,
    pub stop_time: Option<i64>,
    /// When a member pinned it: its artifacts outlive the retention.
    pub pinned_at: Option<i64>,
    /// When its artifacts expired (the retention removed them); the build stays.
    pub artifacts_expired_at: Option<i64>,
    /// Goes up when its listing changes after it finished (a purge, the retention).
    pub listing_version: i64,
    /// The agent that started it (`vitrine/0.2.0`); `None` for builds stored before this was kept.
    pub agent: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    pub id: i64,
    pub node_index: i64,
    pub path: String,
    pub pretty_path: String,
    pub size: i64,
    pub sha256: String,
    pub content_type: String,
    pub s3_key: String,
}

/// What the build page picks out of a build: its images (the gallery) and its HTML pages (the
/// links at the top). Each kind has a partial index of its own (the same `LIKE` in the
/// migrations and the queries), so picking a few costs what is found, not the build's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArtifactKind {
    /// `image/*`
    Image,
    /// `text/html`
    Page,
}

/// What an agent declares about one file it wants listed.
#[derive(Debug, Clone)]
pub struct NewArtifact {
    pub node_index: i64,
    pub path: String,
    pub pretty_path: String,
    pub size: i64,
    /// `None`: declared without it, to be hashed while sent (its confirmation brings it).
    pub sha256: Option<Sha256>,
    pub content_type: String,
}

/// An artifact whose content is known, to be listed: what was declared, its SHA-256 (declared,
/// or brought by the confirmation and proven), and the key its bytes are kept under.
#[derive(Debug, Clone)]
pub struct ToList {
    pub artifact: NewArtifact,
    pub sha256: Sha256,
    pub s3_key: String,
}

/// An upload the server verified: its artifact is listed, the upload kept as a receipt.
#[derive(Debug, Clone)]
pub struct Verified {
    pub upload_id: String,
    pub build_id: BuildId,
    pub listed: ToList,
}

#[derive(Debug, Clone)]
pub struct Upload {
    pub id: String,
    pub build_id: BuildId,
    pub artifact: NewArtifact,
    /// Where the agent uploads (and, when the store enforces signed checksums and
    /// `If-None-Match`, where the bytes stay once verified).
    pub s3_key: String,
    pub multipart_id: Option<String>,
    /// Hex SHA-256 of each part the part URLs were signed with (multipart only).
    pub part_sha256: Vec<String>,
    /// When the upload URLs stop working (unix seconds).
    pub expires_at: i64,
    /// When the server verified and listed it; `None` while pending.
    pub verified_at: Option<i64>,
}

/// A verified upload whose URLs expired: the receipt that answered retried confirmations,
/// to be forgotten, and its upload object removed unless its bytes are kept under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub upload_id: String,
    /// Where the agent uploaded.
    pub upload_key: String,
    /// Where the bytes are kept (the upload key itself, unless verification copied them).
    pub kept_key: String,
}

/// A rate limit's current window for one key: how many hits it took, and when it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateWindow {
    pub count: i64,
    pub started: i64,
}

/// How many artifacts one container of a build lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeCount {
    pub node_index: i64,
    pub count: i64,
}

/// A browser session's user, and when an identity provider last vouched for it (`None`: a
/// password sign-in, which nothing re-checks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionOwner {
    pub user_id: UserId,
    pub checked_at: Option<i64>,
}

/// A sign-in on its way through an identity provider: what the callback must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingSignIn {
    /// The provider's issuer URL.
    pub issuer: String,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
    /// Where to go once signed in (a path on this site).
    pub next: String,
    pub created_at: i64,
}

/// Who a user is at an identity provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub issuer: String,
    pub subject: String,
    pub user_id: UserId,
    pub username: String,
    pub linked_at: i64,
    pub last_sign_in_at: Option<i64>,
}

/// What a session opened through an identity provider keeps to ask the provider again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionIdentity {
    pub issuer: String,
    pub subject: String,
    /// When the provider last vouched for the person (sign-in or refresh).
    pub checked_at: i64,
    pub refresh_token: Option<String>,
    /// The last ID token, sent back as the hint of an RP-initiated logout.
    pub id_token: Option<String>,
}

/// A project role that a provider's group gives its members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRole {
    pub project_id: ProjectId,
    pub group: String,
    pub role: Role,
}

/// How a test ended, in CircleCI's words (`success`, `failure`, `skipped`); an error is kept
/// apart (the Tests tab shows it) and answered as `failure` where CircleCI's shapes have no
/// word for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TestResult {
    Failure,
    Error,
    Skipped,
    Success,
}

impl TestResult {
    /// As stored: `failure`, `error`, `skipped`, `success`.
    pub fn as_str(self) -> &'static str {
        match self {
            TestResult::Failure => "failure",
            TestResult::Error => "error",
            TestResult::Skipped => "skipped",
            TestResult::Success => "success",
        }
    }

    pub fn from_stored(s: &str) -> TestResult {
        match s {
            "failure" => TestResult::Failure,
            "error" => TestResult::Error,
            "skipped" => TestResult::Skipped,
            _ => TestResult::Success,
        }
    }
}

/// A test case read from a build's report, to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTestRun {
    pub suite: String,
    pub classname: String,
    pub name: String,
    pub file: String,
    pub result: TestResult,
    /// Seconds.
    pub run_time: Option<f64>,
    pub message: String,
    pub detail: String,
    pub attachments: Vec<String>,
}

/// A test's run in a build, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct TestRun {
    /// The test's id in its project: the same test across builds.
    pub test_id: i64,
    /// Its place among the build's runs.
    pub seq: i64,
    pub node_index: i64,
    pub suite: String,
    pub classname: String,
    pub name: String,
    pub file: String,
    pub result: TestResult,
    pub run_time: Option<f64>,
    pub message: String,
    pub detail: String,
    /// The report it came from, as listed (`$CIRCLE_ARTIFACTS/test-results/junit.xml`).
    pub source: String,
    pub attachments: Vec<String>,
}
