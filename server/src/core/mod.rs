//! Business rules, free of HTTP: who may see what, how builds are numbered and finished, how
//! uploads become listed artifacts. Handlers, server functions and the CLI call these.

pub mod accounts;
pub mod archives;
pub mod artifacts;
pub mod artifacts_origin;
pub mod audit;
pub mod builds;
pub mod compare;
pub mod content;
pub mod downloads;
pub mod folders;
pub mod listings;
pub mod lookups;
pub mod preview;
pub mod sweeper;
pub mod untrusted;
pub mod uploads;

use std::sync::Arc;
use std::time::Duration;

use crate::domain::{InvalidInput, ProjectSlug};
use crate::storage::{Storage, StorageError, StoreGuarantees};
use vitrine_store::{Db, DbError, Project};

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Anonymous,
    /// A user, by an API token (`token_id`) or a browser session (`None`).
    User {
        id: i64,
        username: String,
        token_id: Option<i64>,
    },
    /// A project build token: may create builds and upload for that project only.
    BuildAgent {
        project_id: i64,
        token_id: i64,
    },
    /// A running build's own token (given to its processes): may add artifacts to that build
    /// only, while it runs; reads nothing.
    BuildNode {
        project_id: i64,
        build_id: i64,
    },
}

impl Principal {
    /// Who this is, for the audit log: `alice (token 12)`, `alice (session)`, `build token 3`,
    /// `build 7's own token`, `anonymous`. Never a token itself.
    pub fn describe(&self) -> String {
        match self {
            Principal::Anonymous => "anonymous".into(),
            Principal::User { username, token_id: Some(t), .. } => format!("{username} (token {t})"),
            Principal::User { username, token_id: None, .. } => format!("{username} (session)"),
            Principal::BuildAgent { token_id, .. } => format!("build token {token_id}"),
            Principal::BuildNode { build_id, .. } => format!("build {build_id}'s own token"),
        }
    }

    pub fn user_id(&self) -> Option<i64> {
        match self {
            Principal::User { id, .. } => Some(*id),
            _ => None,
        }
    }

    pub fn token_id(&self) -> Option<i64> {
        match self {
            Principal::User { token_id, .. } => *token_id,
            Principal::BuildAgent { token_id, .. } => Some(*token_id),
            _ => None,
        }
    }
}

/// Errors with public messages; internal causes are logged where they happen.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// A store this server needs is not answering; may work again soon.
    #[error("{0}")]
    Unavailable(String),
    /// Refused for now; may succeed after `retry_after` seconds.
    #[error("{message}")]
    TooManyRequests { message: String, retry_after: u64 },
    /// Heavy work of this kind is at its limit (see `untrusted`); may succeed after
    /// `retry_after` seconds.
    #[error("{message}")]
    Busy { message: String, retry_after: u64 },
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ServiceError {
    pub fn project_not_found() -> Self {
        ServiceError::NotFound("Project not found".into())
    }

    pub fn build_not_found() -> Self {
        ServiceError::NotFound("Build not found".into())
    }

    pub fn internal(e: impl Into<anyhow::Error>) -> Self {
        ServiceError::Internal(e.into())
    }
}

impl From<InvalidInput> for ServiceError {
    fn from(e: InvalidInput) -> Self {
        ServiceError::BadRequest(e.0)
    }
}

impl From<DbError> for ServiceError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Busy(cause) => {
                tracing::warn!(%cause, "metadata store busy");
                ServiceError::Unavailable("The metadata database is busy; try again in a moment.".into())
            }
            e => ServiceError::Internal(e.into()),
        }
    }
}

impl From<StorageError> for ServiceError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::NotFound => ServiceError::Internal(e.into()),
            StorageError::S3(cause) => {
                tracing::error!(%cause, "S3 store call failed");
                ServiceError::Unavailable(
                    "The artifact store (S3) is not answering; try again shortly. The server's log has the cause."
                        .into(),
                )
            }
        }
    }
}

pub type ServiceResult<T> = Result<T, ServiceError>;

/// Settings the services need beyond their stores.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The base URL people and agents reach this server at, without a trailing `/`.
    pub public_url: String,
    pub uploads: UploadSettings,
    /// Playwright's trace viewer is installed (`<site root>/trace-viewer`), served on the
    /// artifacts origin.
    pub trace_viewer: bool,
}

/// Limits and timings of stored artifacts: how they are uploaded, swept and kept.
#[derive(Debug, Clone)]
pub struct UploadSettings {
    /// How long upload URLs work.
    pub url_ttl: Duration,
    /// Artifacts one build may hold, across its nodes.
    pub max_build_artifacts: i64,
    /// A build whose nodes have not all finished this long after it started is closed as
    /// `timedout`.
    pub build_timeout: Duration,
    /// How often the sweeper runs.
    pub sweep_every: Duration,
    /// How long artifacts are kept (a project may set its own): older builds' artifacts
    /// expire, except the latest successful build of each branch and pinned builds.
    pub artifact_retention: Duration,
    /// How long after its URLs expired an upload that was never completed is removed (a PUT
    /// that started just before expiry may still be streaming).
    pub sweep_grace: Duration,
    /// Files larger than this go up in parts; 0: one PUT each. `None`: by the store (the
    /// embedded one takes whole files, S3 services get parts of 64 MiB).
    pub part_size: Option<u64>,
    /// Verify every upload by copying it to a key no URL was issued for and hashing the copy,
    /// even on a store that proved it checks what it is sent.
    pub verify_by_copy: bool,
}

impl Default for UploadSettings {
    fn default() -> Self {
        UploadSettings {
            url_ttl: Duration::from_secs(3600),
            max_build_artifacts: 100_000,
            build_timeout: Duration::from_secs(24 * 3600),
            sweep_every: Duration::from_secs(60),
            artifact_retention: Duration::from_secs(30 * 86400),
            sweep_grace: Duration::from_secs(3600),
            part_size: None,
            verify_by_copy: false,
        }
    }
}

/// The branch other branches compare against unless a project sets its own.
pub const DEFAULT_BRANCH: &str = "main";

/// The application core, built once at start-up and shared by every caller: cloning it (as
/// axum does for every request) costs one reference count.
#[derive(Clone)]
pub struct Vitrine(Arc<Services>);

impl Vitrine {
    pub fn new(services: Services) -> Vitrine {
        Vitrine(Arc::new(services))
    }
}

impl std::ops::Deref for Vitrine {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

/// What [`Vitrine`] is made of.
pub struct Services {
    pub db: Db,
    pub storage: Storage,
    /// What the S3 store proved it enforces; decides how uploads are verified.
    pub guarantees: StoreGuarantees,
    pub settings: Arc<Settings>,
    /// The second origin that serves HTML reports and other browsable artifacts.
    pub artifacts_origin: artifacts_origin::ArtifactsOrigin,
    /// Where password checks run, a bounded few at a time.
    pub passwords: accounts::PasswordChecks,
    /// Who read which private artifact and who changed what, written off the request path.
    pub audit: audit::AuditLog,
    /// What archive artifacts hold, read once each.
    pub archives: archives::ArchiveCache,
    /// Screenshots compared pixel by pixel, by the SHA-256s of the two images.
    pub diffs: compare::DiffCache,
    /// Recent answers of the read path's first queries (tokens, projects, members, builds).
    pub lookups: lookups::Lookups,
    /// Listings of finished builds, compressed, with their ETags.
    pub listings: listings::ListingCache,
    /// Pages of finished builds' folders, as the Artifacts tab shows them.
    pub folders: artifacts::FolderCache,
    /// Previews of opened files, by the object they were made from.
    pub previews: preview::PreviewCache,
    /// Permits for heavy work on untrusted content (decodes, indexes, inflation, previews).
    pub heavy: untrusted::HeavyWork,
}

impl Vitrine {
    pub fn accounts(&self) -> accounts::Accounts<'_> {
        accounts::Accounts { db: &self.db, passwords: &self.passwords, lookups: &self.lookups }
    }

    /// The project, if the principal may see it; otherwise the same 404 as a missing one,
    /// so existence is not leaked.
    pub async fn visible_project(&self, who: &Principal, slug: &ProjectSlug) -> ServiceResult<Project> {
        let project = match self.lookups.projects.get(slug) {
            Some(p) => p,
            None => match self.db.project_by_slug(slug).await {
                Ok(p) => {
                    self.lookups.projects.keep(slug.clone(), p.clone());
                    p
                }
                Err(DbError::NotFound) => return Err(ServiceError::project_not_found()),
                Err(e) => return Err(e.into()),
            },
        };
        if self.can_view(who, &project).await? { Ok(project) } else { Err(ServiceError::project_not_found()) }
    }

    /// Public projects, and for a user those they are a member of; for an agent, its own.
    pub async fn visible_projects(&self, who: &Principal) -> ServiceResult<Vec<Project>> {
        let mut projects = match who {
            Principal::User { id, .. } => self.db.visible_projects(Some(*id)).await?,
            _ => self.db.visible_projects(None).await?,
        };
        if let Principal::BuildAgent { project_id, .. } = who
            && !projects.iter().any(|p| p.id == *project_id)
        {
            projects.push(self.db.project_by_id(*project_id).await?);
        }
        Ok(projects)
    }

    pub async fn can_view(&self, who: &Principal, project: &Project) -> ServiceResult<bool> {
        Ok(match who {
            _ if project.public => true,
            Principal::Anonymous | Principal::BuildNode { .. } => false,
            Principal::BuildAgent { project_id, .. } => *project_id == project.id,
            Principal::User { id, .. } => self.is_member(project.id, *id).await?,
        })
    }

    /// Is this user a member of this project (a yes kept a while, a no asked again)?
    pub async fn is_member(&self, project_id: i64, user_id: i64) -> ServiceResult<bool> {
        let key = (project_id, user_id);
        if self.lookups.members.get(&key).is_some() {
            return Ok(true);
        }
        let member = self.db.is_member(project_id, user_id).await?;
        if member {
            self.lookups.members.keep(key, ());
        }
        Ok(member)
    }

    /// The project an agent may write to: its build token must belong to that very project.
    pub async fn writable_project(&self, who: &Principal, slug: &ProjectSlug) -> ServiceResult<Project> {
        let project = match self.db.project_by_slug(slug).await {
            Ok(p) => p,
            Err(DbError::NotFound) => return Err(ServiceError::project_not_found()),
            Err(e) => return Err(e.into()),
        };
        match who {
            Principal::BuildAgent { project_id, .. } | Principal::BuildNode { project_id, .. }
                if *project_id == project.id =>
            {
                Ok(project)
            }
            _ if !self.can_view(who, &project).await? => Err(ServiceError::project_not_found()),
            Principal::Anonymous => {
                Err(ServiceError::Unauthorized("A project build token is needed to store artifacts".into()))
            }
            _ => Err(ServiceError::Forbidden(format!(
                "This token cannot store artifacts for {slug}: use the project's build token \
                 (vitrine admin project token {})",
                slug.short()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_metadata_store_is_a_503_not_a_500() {
        let busy: ServiceError = DbError::Busy(sqlx::Error::PoolTimedOut).into();
        assert!(matches!(busy, ServiceError::Unavailable(_)), "{busy:?}");
        let other: ServiceError = DbError::Other(sqlx::Error::PoolClosed).into();
        assert!(matches!(other, ServiceError::Internal(_)), "{other:?}");
    }
}
