//! Rows as stored. These never leave the server: API and UI shapes are built from them.

use std::str::FromStr;

use crate::domain::{BuildStatus, VcsType};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub password_hash: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenOwner {
    User(i64),
    Project(i64),
    /// A running build's own token: adds artifacts to that build only.
    Build {
        project_id: i64,
        build_id: i64,
    },
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct TokenRow {
    user_id: Option<i64>,
    project_id: Option<i64>,
    build_id: Option<i64>,
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

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Project {
    pub id: i64,
    pub vcs_type: String,
    pub org: String,
    pub repo: String,
    pub public: bool,
}

impl Project {
    pub fn vcs(&self) -> VcsType {
        VcsType::from_str(&self.vcs_type).unwrap_or(VcsType::Github)
    }

    /// `gh/acme/widgets`
    pub fn short_slug(&self) -> String {
        format!("{}/{}/{}", self.vcs().short(), self.org, self.repo)
    }

    /// `github/acme/widgets`, the form in API routes.
    pub fn long_slug(&self) -> String {
        format!("{}/{}/{}", self.vcs().as_str(), self.org, self.repo)
    }
}

pub struct NewBuild {
    pub branch: String,
    pub revision: String,
    /// How many nodes the build has; it closes once that many finished.
    pub parallelism: i64,
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

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Build {
    pub id: i64,
    pub project_id: i64,
    pub build_num: i64,
    pub branch: String,
    pub revision: String,
    pub status: String,
    pub parallelism: i64,
    pub start_time: i64,
    pub stop_time: Option<i64>,
}

impl Build {
    pub fn status(&self) -> BuildStatus {
        BuildStatus::from_str(&self.status).unwrap_or(BuildStatus::InfrastructureFail)
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
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

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Blob {
    pub sha256: String,
    pub s3_key: String,
    pub size: i64,
}

/// What an agent declares about one file it wants listed.
#[derive(Debug, Clone)]
pub struct NewArtifact {
    pub node_index: i64,
    pub path: String,
    pub pretty_path: String,
    pub size: i64,
    pub sha256: String,
    pub content_type: String,
}

#[derive(Debug, Clone)]
pub struct Upload {
    pub id: String,
    pub build_id: i64,
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

impl Upload {
    /// Declared without its SHA-256 (`artifact.sha256` is empty until the confirmation
    /// brings it): the agent hashed the file while sending it.
    pub fn hashed_while_sent(&self) -> bool {
        self.artifact.sha256.is_empty()
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct UploadRow {
    id: String,
    build_id: i64,
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
                sha256: r.sha256,
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
