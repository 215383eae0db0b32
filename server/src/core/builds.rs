//! Builds: created by agents, listed and resolved (`latest`) for readers.

use super::{Principal, ServiceError, ServiceResult, Vitrine};
use crate::domain::{BuildNum, BuildRef, BuildStatus, MAX_PARALLELISM, NodeIndex, ProjectSlug, StatusFilter};
use vitrine_store::{Build, DbError, NewBuild, Project};

pub const MAX_LIST_LIMIT: i64 = 100;

/// What an agent asks for when it starts.
pub struct StartBuild {
    pub branch: String,
    pub revision: String,
    /// Join this build as `node_index` instead of creating one.
    pub join: Option<BuildNum>,
    pub node_index: NodeIndex,
    /// How many nodes a new build has (checked against the build when joining).
    pub node_total: Option<i64>,
}

pub(crate) fn check_branch(branch: &str) -> ServiceResult<()> {
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
        let builds = self
            .db
            .builds(project.id, branch, filter.map(vitrine_wire::domain::StatusFilter::statuses), limit, offset)
            .await?;
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
            BuildRef::Num(num) => match self.lookups.builds.get(&(project.id, num.0)) {
                Some(finished) => Ok(finished),
                None => self.db.build(project.id, *num).await.inspect(|b| {
                    if b.status.is_finished() {
                        self.lookups.builds.keep((project.id, num.0), b.clone());
                    }
                }),
            },
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
        if let Principal::BuildNode { .. } = who {
            return Err(ServiceError::Forbidden(
                "A build's own token can only add artifacts to its build; starting builds needs the project's build token"
                    .into(),
            ));
        }
        check_branch(&start.branch)?;
        let node = start.node_index;
        let build = match start.join {
            None => {
                let total = start.node_total.unwrap_or(1);
                if !(1..=MAX_PARALLELISM).contains(&total) {
                    return Err(ServiceError::BadRequest(format!(
                        "A build has 1 to {MAX_PARALLELISM} nodes (got {total})"
                    )));
                }
                if node.0 >= total {
                    return Err(ServiceError::BadRequest(format!(
                        "Node {node} is outside a build of {total} node(s): pass the number of nodes \
                         (--node-total, or CIRCLE_NODE_TOTAL)"
                    )));
                }
                let new = NewBuild { branch: start.branch, revision: start.revision, parallelism: total };
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
                if let Some(total) = start.node_total
                    && total != build.parallelism
                {
                    return Err(ServiceError::BadRequest(format!(
                        "Build {num} has {} node(s), not {total}",
                        build.parallelism
                    )));
                }
                self.open_build(&build, node).await?;
                build
            }
        };
        Ok((project, build))
    }

    /// Records how a node ended; when it is the build's last node, the build closes with the
    /// status of all its nodes (a failure anywhere wins). Finishing a node again with the same
    /// status succeeds again; a different status is refused.
    pub async fn finish_node(
        &self,
        who: &Principal,
        slug: &ProjectSlug,
        num: BuildNum,
        node: NodeIndex,
        status: BuildStatus,
    ) -> ServiceResult<(Project, Build)> {
        if let Principal::BuildNode { .. } = who {
            // The build's own processes are what the status is about: they may not set it.
            return Err(ServiceError::Forbidden(
                "A build's own token can only add artifacts to its build; finishing it needs the project's build token"
                    .into(),
            ));
        }
        let (project, build) = self.agent_build(who, slug, num).await?;
        if status == BuildStatus::Running {
            return Err(ServiceError::BadRequest("A node cannot finish as running".into()));
        }
        if node.0 >= build.parallelism {
            return Err(ServiceError::BadRequest(format!(
                "Build {num} has {} node(s); node {node} is not one of them",
                build.parallelism
            )));
        }
        match self.db.finish_node(&build, node, status).await {
            Ok(_) => {}
            Err(DbError::Conflict) => {
                return Err(ServiceError::Conflict(format!("Node {node} of build {num} already finished otherwise")));
            }
            Err(e) => return Err(e.into()),
        }
        let build = self.db.build(project.id, num).await?;
        if build.status == BuildStatus::Timedout {
            return Err(ServiceError::Conflict(format!("Build {num} timed out before node {node} finished")));
        }
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
            Ok(b) if matches!(who, Principal::BuildNode { build_id, .. } if *build_id != b.id) => {
                Err(ServiceError::Forbidden(format!("This token belongs to another build than build {num} of {slug}")))
            }
            Ok(b) => Ok((project, b)),
            Err(DbError::NotFound) => Err(ServiceError::NotFound(format!("Build {num} of {slug} does not exist"))),
            Err(e) => Err(e.into()),
        }
    }

    /// Pins a build, or unpins it: a pinned build's artifacts outlive the retention (a
    /// release's screenshots, a baseline). Members of the project may; nobody else.
    pub async fn pin_build(
        &self,
        who: &Principal,
        slug: &ProjectSlug,
        num: BuildNum,
        pin: bool,
    ) -> ServiceResult<Build> {
        let (project, build) = self.find_build(who, slug, &BuildRef::Num(num)).await?;
        let Principal::User { id, .. } = who else {
            return Err(ServiceError::Unauthorized("Sign in to pin builds".into()));
        };
        if !self.db.is_member(project.id, *id).await? {
            return Err(ServiceError::Forbidden(format!("Only members of {} can pin its builds", slug.short())));
        }
        let pinned = pin.then(|| (Some(*id), chrono::Utc::now().timestamp()));
        self.db.set_build_pinned(build.id, pinned).await?;
        self.lookups.builds.forget(&(project.id, num.0));
        self.audit.record(vitrine_store::AuditEvent {
            project: Some(slug.short()),
            build_num: Some(num.0),
            ..super::audit::event_by(who, if pin { "build.pin" } else { "build.unpin" })
        });
        Ok(self.db.build(project.id, num).await?)
    }

    /// The page people open for a build: `/gh/acme/widgets/42`.
    pub fn build_page_url(&self, project: &Project, build_num: i64) -> String {
        format!("{}{}", self.settings.public_url, crate::urls::build_page(project, build_num))
    }
}
