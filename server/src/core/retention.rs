//! How long artifacts are kept, and taking them out before: the server's default, a
//! project's own setting, the rule (older builds' artifacts expire, except the latest
//! successful build of each branch and pinned builds; the store's `expired_builds`), the
//! sweeper's part (expiring what is due), and purges by hand.

use std::time::Duration;

use super::builds::Builds;
use super::error::ServiceResult;
use super::lookups::Lookups;
use super::projects::Projects;
use crate::domain::{BuildNum, ProjectSlug};
use std::sync::Arc;

use vitrine_store::{Build, BuildId, Db, ExpiredBuild, Project, ProjectId, Purged, RetentionStore};
use vitrine_wire::domain::BuildStatus;

#[derive(Clone)]
pub struct Retention {
    db: Arc<dyn RetentionStore>,
    lookups: Lookups,
    projects: Projects,
    builds: Builds,
    /// How long artifacts are kept unless a project sets its own.
    default: Duration,
}

impl Retention {
    pub fn new(db: &Db, lookups: Lookups, projects: Projects, builds: Builds, default: Duration) -> Retention {
        Retention { db: db.retention_store(), lookups, projects, builds, default }
    }

    /// Objects purges doomed, oldest first (the sweeper deletes them from the store).
    pub async fn doomed(&self, limit: i64) -> ServiceResult<Vec<String>> {
        Ok(self.db.doomed_objects(limit).await?)
    }

    /// An object the sweeper deleted from the store.
    pub async fn forget_doomed(&self, s3_key: &str) -> ServiceResult<()> {
        Ok(self.db.forget_doomed(s3_key).await?)
    }

    /// The server's retention (`--artifact-retention`); the audit log is kept as long.
    pub fn default_retention(&self) -> Duration {
        self.default
    }

    /// A project's own retention (`None`: the server's).
    pub async fn set_retention(&self, slug: &ProjectSlug, retention: Option<Duration>) -> ServiceResult<()> {
        let project = self.projects.project_for_admin(slug).await?;
        self.set_project_retention(&project, retention).await
    }

    pub async fn set_project_retention(&self, project: &Project, retention: Option<Duration>) -> ServiceResult<()> {
        Ok(self.db.set_project_retention(project.id, retention.map(|d| d.as_secs() as i64)).await?)
    }

    /// When the retention takes a build's artifacts, if it will: never those of a pinned
    /// build, of one still running, or of the latest successful build of its branch (while it
    /// stays the latest); `None` too once they are gone.
    pub async fn expires_at(&self, project: &Project, build: &Build) -> ServiceResult<Option<i64>> {
        if build.pinned_at.is_some() || build.artifacts_expired_at.is_some() || !build.status.is_finished() {
            return Ok(None);
        }
        if build.status == BuildStatus::Success
            && self.builds.latest_green(project.id, &build.branch).await?.is_some_and(|g| g.id == build.id)
        {
            return Ok(None);
        }
        let kept = match self.project_retention(project.id).await? {
            Some(own) => own,
            None => self.default,
        };
        Ok(Some(build.start_time + kept.as_secs() as i64))
    }

    /// A project's own retention (`None`: the server's).
    pub async fn project_retention(&self, project_id: ProjectId) -> ServiceResult<Option<Duration>> {
        Ok(self.db.project_retention(project_id).await?.map(|s| Duration::from_secs(s.max(0) as u64)))
    }

    /// `admin purge`: removes a project's artifacts, a build's, or one path of a build, from
    /// listings now; the server's sweeper deletes the objects nothing lists any more within a
    /// sweep.
    pub async fn purge(
        &self,
        slug: &ProjectSlug,
        build: Option<BuildNum>,
        path: Option<&str>,
    ) -> ServiceResult<Purged> {
        let project = self.projects.project_for_admin(slug).await?;
        let build_id = match build {
            None => None,
            Some(num) => Some(self.builds.build_for_admin(slug, &project, num).await?.id),
        };
        let purged = self.db.purge(project.id, build_id, path).await?;
        self.forget_listed();
        Ok(purged)
    }

    /// Builds whose artifacts are past their project's retention at `now`.
    pub async fn due(&self, now: i64, limit: i64) -> ServiceResult<Vec<ExpiredBuild>> {
        Ok(self.db.expired_builds(now, self.default.as_secs() as i64, limit).await?)
    }

    /// Takes a build's artifacts out of listings for the retention; the build stays, with a
    /// note, and the sweeper deletes its objects.
    pub async fn expire(&self, project_id: ProjectId, build_id: BuildId, now: i64) -> ServiceResult<()> {
        self.db.purge(project_id, Some(build_id), None).await?;
        self.db.mark_artifacts_expired(build_id, now).await?;
        self.forget_listed();
        Ok(())
    }

    /// This server's lookups forget builds' and artifacts' old state at once.
    fn forget_listed(&self) {
        self.lookups.builds.clear();
        self.lookups.artifacts.clear();
    }
}
