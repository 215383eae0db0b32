//! Rows as sqlx reads them, mapped to the models at the store's boundary. Both stores decode
//! the same rows: integers are 64-bit, booleans are `BOOLEAN` on PostgreSQL and 0/1 on SQLite.

use std::str::FromStr;

use super::ids::{BuildId, ProjectId, TokenId, UserId};
use super::models::{
    Artifact, Build, Grant, GrantSource, GroupRole, Identity, NewArtifact, PendingSignIn, Project, Role, Scope,
    SessionIdentity, SessionInfo, SessionOwner, TestResult, TestRun, TokenInfo, TokenOwner, Upload, User, UserSummary,
};
use vitrine_wire::domain::{BuildStatus, Sha256, VcsType};

#[derive(Debug, sqlx::FromRow)]
pub(super) struct UserRow {
    id: UserId,
    username: String,
    password_hash: String,
    disabled_at: Option<i64>,
    admin: bool,
}

impl From<UserRow> for User {
    fn from(r: UserRow) -> Self {
        User {
            id: r.id,
            username: r.username,
            password_hash: r.password_hash,
            disabled: r.disabled_at.is_some(),
            admin: r.admin,
        }
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct UserSummaryRow {
    id: UserId,
    username: String,
    disabled_at: Option<i64>,
    admin: bool,
    created_at: i64,
}

impl From<UserSummaryRow> for UserSummary {
    fn from(r: UserSummaryRow) -> Self {
        UserSummary {
            id: r.id,
            username: r.username,
            admin: r.admin,
            disabled: r.disabled_at.is_some(),
            created_at: r.created_at,
        }
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct GrantRow {
    user_id: UserId,
    username: String,
    role: String,
    source: String,
    granted_at: i64,
}

impl From<GrantRow> for Grant {
    fn from(r: GrantRow) -> Self {
        Grant {
            user_id: r.user_id,
            username: r.username,
            // Only the two roles are ever written (a CHECK says so).
            role: r.role.parse().unwrap_or(super::models::Role::Member),
            source: GrantSource::from_stored(&r.source),
            granted_at: r.granted_at,
        }
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct SessionRow {
    id: i64,
    token_hash: String,
    created_at: i64,
    expires_at: i64,
    agent: String,
}

impl SessionRow {
    pub(super) fn info(self, current_hash: &str) -> SessionInfo {
        SessionInfo {
            id: self.id,
            created_at: self.created_at,
            expires_at: self.expires_at,
            agent: self.agent,
            current: self.token_hash == current_hash,
        }
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct TokenInfoRow {
    id: TokenId,
    user_id: Option<UserId>,
    project_id: Option<ProjectId>,
    build_id: Option<BuildId>,
    created_at: i64,
    last_used_at: Option<i64>,
    username: Option<String>,
    vcs_type: Option<String>,
    org: Option<String>,
    repo: Option<String>,
    build_num: Option<i64>,
    label: String,
    scope: String,
    expires_at: Option<i64>,
}

impl TokenInfoRow {
    pub(super) fn info(self) -> Option<TokenInfo> {
        let owner = TokenRow {
            id: self.id,
            user_id: self.user_id,
            project_id: self.project_id,
            build_id: self.build_id,
            last_used_at: None,
            scope: String::new(),
            expires_at: None,
        }
        .owner()?;
        let project = match (&self.vcs_type, &self.org, &self.repo) {
            (Some(vcs), Some(org), Some(repo)) => {
                let vcs = VcsType::from_str(vcs).unwrap_or(VcsType::Github);
                format!("{}/{org}/{repo}", vcs.short())
            }
            _ => String::new(),
        };
        let owner_name = match (owner, self.username, self.build_num) {
            (TokenOwner::User(_), Some(name), _) => name,
            (TokenOwner::Build { .. }, _, Some(num)) => format!("{project} build {num}"),
            _ => project,
        };
        Some(TokenInfo {
            id: self.id,
            owner,
            owner_name,
            created_at: self.created_at,
            last_used_at: self.last_used_at,
            label: self.label,
            scope: Scope::from_stored(&self.scope),
            expires_at: self.expires_at,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct TokenRow {
    #[sqlx(default)]
    pub id: TokenId,
    user_id: Option<UserId>,
    project_id: Option<ProjectId>,
    build_id: Option<BuildId>,
    #[sqlx(default)]
    pub last_used_at: Option<i64>,
    #[sqlx(default)]
    pub scope: String,
    #[sqlx(default)]
    pub expires_at: Option<i64>,
}

impl TokenRow {
    pub(super) fn owner(&self) -> Option<TokenOwner> {
        match (self.user_id, self.project_id, self.build_id) {
            (Some(u), None, None) => Some(TokenOwner::User(u)),
            (None, Some(p), None) => Some(TokenOwner::Project(p)),
            (None, Some(project_id), Some(build_id)) => Some(TokenOwner::Build { project_id, build_id }),
            _ => None,
        }
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct ProjectRow {
    id: ProjectId,
    vcs_type: String,
    org: String,
    repo: String,
    public: bool,
}

impl From<ProjectRow> for Project {
    fn from(r: ProjectRow) -> Self {
        // Only known VCS names are ever written; an unknown one reads as GitHub.
        let vcs = VcsType::from_str(&r.vcs_type).unwrap_or(VcsType::Github);
        Project { id: r.id, vcs, org: r.org, repo: r.repo, public: r.public }
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct BuildRow {
    id: BuildId,
    project_id: ProjectId,
    build_num: i64,
    branch: String,
    revision: String,
    status: String,
    parallelism: i64,
    start_time: i64,
    stop_time: Option<i64>,
    pinned_at: Option<i64>,
    artifacts_expired_at: Option<i64>,
    listing_version: i64,
    agent: Option<String>,
}

impl From<BuildRow> for Build {
    fn from(r: BuildRow) -> Self {
        Build {
            id: r.id,
            project_id: r.project_id,
            build_num: r.build_num,
            branch: r.branch,
            revision: r.revision,
            // Only known statuses are ever written; an unknown one reads as a failure of ours.
            status: BuildStatus::from_str(&r.status).unwrap_or(BuildStatus::InfrastructureFail),
            parallelism: r.parallelism,
            start_time: r.start_time,
            stop_time: r.stop_time,
            pinned_at: r.pinned_at,
            artifacts_expired_at: r.artifacts_expired_at,
            listing_version: r.listing_version,
            agent: r.agent,
        }
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct ArtifactRow {
    id: i64,
    node_index: i64,
    path: String,
    pretty_path: String,
    size: i64,
    sha256: String,
    content_type: String,
    s3_key: String,
}

impl From<ArtifactRow> for Artifact {
    fn from(r: ArtifactRow) -> Self {
        Artifact {
            id: r.id,
            node_index: r.node_index,
            path: r.path,
            pretty_path: r.pretty_path,
            size: r.size,
            sha256: r.sha256,
            content_type: r.content_type,
            s3_key: r.s3_key,
        }
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct BlobRow {
    pub sha256: String,
    pub s3_key: String,
    pub size: i64,
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct UploadRow {
    id: String,
    build_id: BuildId,
    node_index: i64,
    path: String,
    pretty_path: String,
    size: i64,
    sha256: String,
    content_type: String,
    s3_key: String,
    multipart_id: Option<String>,
    part_sha256: String,
    expires_at: i64,
    verified_at: Option<i64>,
}

impl From<UploadRow> for Upload {
    fn from(r: UploadRow) -> Self {
        Upload {
            id: r.id,
            build_id: r.build_id,
            artifact: NewArtifact {
                node_index: r.node_index,
                path: r.path,
                pretty_path: r.pretty_path,
                size: r.size,
                sha256: Sha256::from_stored(r.sha256),
                content_type: r.content_type,
            },
            s3_key: r.s3_key,
            multipart_id: r.multipart_id,
            part_sha256: r.part_sha256.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect(),
            expires_at: r.expires_at,
            verified_at: r.verified_at,
        }
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct IdentityRow {
    issuer: String,
    subject: String,
    user_id: UserId,
    username: String,
    linked_at: i64,
    last_sign_in_at: Option<i64>,
}

impl From<IdentityRow> for Identity {
    fn from(r: IdentityRow) -> Self {
        Identity {
            issuer: r.issuer,
            subject: r.subject,
            user_id: r.user_id,
            username: r.username,
            linked_at: r.linked_at,
            last_sign_in_at: r.last_sign_in_at,
        }
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct PendingSignInRow {
    issuer: String,
    state: String,
    nonce: String,
    pkce_verifier: String,
    next: String,
    created_at: i64,
}

impl From<PendingSignInRow> for PendingSignIn {
    fn from(r: PendingSignInRow) -> Self {
        PendingSignIn {
            issuer: r.issuer,
            state: r.state,
            nonce: r.nonce,
            pkce_verifier: r.pkce_verifier,
            next: r.next,
            created_at: r.created_at,
        }
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct SessionIdentityRow {
    issuer: String,
    subject: String,
    checked_at: i64,
    refresh_token: Option<String>,
    id_token: Option<String>,
}

impl From<SessionIdentityRow> for SessionIdentity {
    fn from(r: SessionIdentityRow) -> Self {
        SessionIdentity {
            issuer: r.issuer,
            subject: r.subject,
            checked_at: r.checked_at,
            refresh_token: r.refresh_token,
            id_token: r.id_token,
        }
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct GroupRoleRow {
    project_id: ProjectId,
    group_name: String,
    role: String,
}

impl From<GroupRoleRow> for GroupRole {
    fn from(r: GroupRoleRow) -> Self {
        GroupRole {
            project_id: r.project_id,
            group: r.group_name,
            role: Role::from_str(&r.role).unwrap_or(Role::Member),
        }
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct SessionOwnerRow {
    user_id: UserId,
    checked_at: Option<i64>,
}

impl From<SessionOwnerRow> for SessionOwner {
    fn from(r: SessionOwnerRow) -> Self {
        SessionOwner { user_id: r.user_id, checked_at: r.checked_at }
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct TestRunRow {
    test_id: i64,
    seq: i64,
    node_index: i64,
    suite: String,
    classname: String,
    name: String,
    file: String,
    result: String,
    run_time: Option<f64>,
    message: String,
    detail: String,
    source: String,
    attachments: String,
}

impl From<TestRunRow> for TestRun {
    fn from(r: TestRunRow) -> Self {
        TestRun {
            test_id: r.test_id,
            seq: r.seq,
            node_index: r.node_index,
            suite: r.suite,
            classname: r.classname,
            name: r.name,
            file: r.file,
            result: TestResult::from_stored(&r.result),
            run_time: r.run_time,
            message: r.message,
            detail: r.detail,
            source: r.source,
            attachments: r.attachments.lines().filter(|l| !l.is_empty()).map(str::to_owned).collect(),
        }
    }
}
