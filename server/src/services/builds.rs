//! Builds: created by agents, listed and resolved (`latest`) for readers.

use super::{Principal, ServiceError, ServiceResult, Vitrine};
use crate::db::{Build, DbError, NewBuild, Project};
use crate::domain::{BuildNum, BuildRef, BuildStatus, NodeIndex, ProjectSlug, StatusFilter};

pub const MAX_LIST_LIMIT: i64 = 100;

/// What an agent asks for when it starts.
pub struct StartBuild {
    pub branch: String,
    pub revision: String,
    /// Join this build as `node_index` instead of creating one.
    pub join: Option<BuildNum>,
    pub node_index: NodeIndex,
}

fn check_branch(branch: &str) -> ServiceResult<()> {
    if branch.is_empty() || branch.len() > 255 || branch.chars().any(char::is_control) {
        return Err(ServiceError::BadRequest(format!(
            "Invalid branch `{}`: expected 1 to 255 printable characters",
            branch.escape_debug()
        )));
    }
    Ok(())
}

impl Vitrine {
    pub async fn recent_builds(
        &self,
        who: &Principal,
        slug: &ProjectSlug,
        branch: Option<&str>,
        filter: Option<StatusFilter>,
        limit: i64,
        offset: i64,
    ) -> ServiceResult<(Project, Vec<Build>)> {
        let project = self.visible_project(who, slug).await?;
        if !(1..=MAX_LIST_LIMIT).contains(&limit) {
            return Err(ServiceError::BadRequest(format!("limit must be between 1 and {MAX_LIST_LIMIT}")));
        }
        if offset < 0 {
            return Err(ServiceError::BadRequest("offset must not be negative".into()));
        }
        let builds = self.db.builds(project.id, branch, filter.map(|f| f.statuses()), limit, offset).await?;
        Ok((project, builds))
    }

    /// Resolves a build number or `latest` (branch + filter) within a visible project.
    pub async fn find_build(
        &self,
        who: &Principal,
        slug: &ProjectSlug,
        build: &BuildRef,
    ) -> ServiceResult<(Project, Build)> {
        let project = self.visible_project(who, slug).await?;
        let found = match build {
            BuildRef::Num(num) => self.db.build(project.id, *num).await,
            BuildRef::Latest { branch, filter } => self.db.latest_build(project.id, branch.as_deref(), *filter).await,
        };
        match found {
            Ok(b) => Ok((project, b)),
            Err(DbError::NotFound) => Err(ServiceError::build_not_found()),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn start_build(
        &self,
        who: &Principal,
        slug: &ProjectSlug,
        start: StartBuild,
    ) -> ServiceResult<(Project, Build)> {
        let project = self.writable_project(who, slug).await?;
        check_branch(&start.branch)?;
        let build = match start.join {
            None => {
                let new =
                    NewBuild { branch: start.branch, revision: start.revision, parallelism: start.node_index.0 + 1 };
                self.db.insert_build(project.id, &new).await?
            }
            Some(num) => {
                let build = match self.db.build(project.id, num).await {
                    Ok(b) => b,
                    Err(DbError::NotFound) => {
                        return Err(ServiceError::NotFound(format!("Build {num} of {slug} does not exist")));
                    }
                    Err(e) => return Err(e.into()),
                };
                self.db.raise_parallelism(build.id, start.node_index.0 + 1).await?;
                self.db.build(project.id, num).await?
            }
        };
        Ok((project, build))
    }

    /// Records how a node ended. A failure is sticky: a later node's success does not hide it.
    pub async fn finish_build(
        &self,
        who: &Principal,
        slug: &ProjectSlug,
        num: BuildNum,
        status: BuildStatus,
    ) -> ServiceResult<(Project, Build)> {
        let (project, build) = self.agent_build(who, slug, num).await?;
        if status == BuildStatus::Running {
            return Err(ServiceError::BadRequest("A build cannot be finished as running".into()));
        }
        let keep = build.status().is_finished() && build.status() != BuildStatus::Success;
        let status = if keep { build.status() } else { status };
        self.db.finish_build(build.id, status).await?;
        let build = self.db.build(project.id, num).await?;
        Ok((project, build))
    }

    /// A build of a project the agent may write to.
    pub async fn agent_build(
        &self,
        who: &Principal,
        slug: &ProjectSlug,
        num: BuildNum,
    ) -> ServiceResult<(Project, Build)> {
        let project = self.writable_project(who, slug).await?;
        match self.db.build(project.id, num).await {
            Ok(b) => Ok((project, b)),
            Err(DbError::NotFound) => Err(ServiceError::NotFound(format!("Build {num} of {slug} does not exist"))),
            Err(e) => Err(e.into()),
        }
    }

    /// The page people open for a build: `/gh/acme/widgets/42`.
    pub fn build_page_url(&self, project: &Project, build_num: i64) -> String {
        format!("{}/{}/{}", self.settings.public_url, project.short_slug(), build_num)
    }
}
