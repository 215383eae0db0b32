//! Builds: created, joined and finished by agents, listed and resolved (`latest`) for
//! readers, pinned by members and administrators.

use std::collections::HashSet;

use super::audit::{AuditAction, AuditLog};
use super::error::{ServiceError, ServiceResult};
use super::lookups::Lookups;
use super::principal::Principal;
use super::projects::{Projects, check_branch};
use crate::domain::{BuildNum, BuildRef, BuildStatus, MAX_PARALLELISM, NodeIndex, ProjectSlug, StatusFilter};
use std::sync::Arc;

use vitrine_store::{Build, BuildId, BuildStore, Db, DbError, NewBuild, Pin, Project, ProjectId, UserId};

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
    /// The agent that asks, as it names itself (its `User-Agent`), kept with a new build.
    pub agent: Option<String>,
}

/// Builds and their nodes.
#[derive(Clone)]
pub struct Builds {
    db: Arc<dyn BuildStore>,
    /// Recent finished builds (see [`super::lookups`]).
    lookups: Lookups,
    projects: Projects,
    audit: AuditLog,
    /// Where people reach the server, for build page links.
    public_url: String,
}

impl Builds {
    pub fn new(db: &Db, lookups: Lookups, projects: Projects, audit: AuditLog, public_url: String) -> Builds {
        Builds { db: db.build_store(), lookups, projects, audit, public_url }
    }

    /// The nodes of a build that finished.
    pub async fn finished_nodes(&self, build_id: BuildId) -> ServiceResult<HashSet<i64>> {
        Ok(self.db.finished_nodes(build_id).await?)
    }

    /// The project a build belongs to, by the build's id.
    pub async fn project_of(&self, build_id: BuildId) -> ServiceResult<Option<ProjectId>> {
        match self.db.build_project(build_id).await {
            Ok(project_id) => Ok(Some(project_id)),
            Err(DbError::NotFound) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The newest successful build of a branch, if any.
    pub async fn latest_green(&self, project_id: ProjectId, branch: &str) -> ServiceResult<Option<Build>> {
        match self.db.latest_build(project_id, Some(branch), StatusFilter::Successful).await {
            Ok(build) => Ok(Some(build)),
            Err(DbError::NotFound) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The newest successful build of `branch` numbered below `before`.
    pub async fn last_green_before(
        &self,
        project_id: ProjectId,
        branch: &str,
        before: i64,
    ) -> ServiceResult<Option<Build>> {
        Ok(self.db.last_green_before(project_id, branch, before).await?)
    }

    /// Closes as `timedout` the builds started before `started_before` whose nodes have not
    /// all finished; answers how many (the sweeper).
    pub async fn time_out(&self, started_before: i64) -> ServiceResult<u64> {
        Ok(self.db.time_out_builds(started_before).await?)
    }

    /// Deletes the own tokens of builds that closed (the sweeper).
    pub async fn forget_closed_build_tokens(&self) -> ServiceResult<()> {
        self.db.delete_closed_build_tokens().await?;
        Ok(())
    }

    pub async fn recent_builds(
        &self,
        who: &Principal,
        slug: &ProjectSlug,
        branch: Option<&str>,
        filter: Option<StatusFilter>,
        limit: i64,
        offset: i64,
    ) -> ServiceResult<(Project, Vec<Build>)> {
        let project = self.projects.visible_project(who, slug).await?;
        if !(1..=MAX_LIST_LIMIT).contains(&limit) {
            return Err(ServiceError::BadRequest(format!("limit must be between 1 and {MAX_LIST_LIMIT}")));
        }
        if offset < 0 {
            return Err(ServiceError::BadRequest("offset must not be negative".into()));
        }
        let builds = self
            .db
            .builds(project.id, branch, filter.map(vitrine_wire::domain::StatusFilter::statuses), None, limit, offset)
            .await?;
        Ok((project, builds))
    }

    /// A page of a project's builds for its page: `limit` of them, newest first, of a branch
    /// and a status filter, numbered below `before`; and where the next page starts.
    pub async fn builds_page(
        &self,
        who: &Principal,
        slug: &ProjectSlug,
        branch: Option<&str>,
        filter: Option<StatusFilter>,
        before: Option<BuildNum>,
        limit: i64,
    ) -> ServiceResult<(Project, Vec<Build>, Option<i64>)> {
        let project = self.projects.visible_project(who, slug).await?;
        if let Some(branch) = branch {
            super::projects::check_branch(branch)?;
        }
        let statuses = filter.map(vitrine_wire::domain::StatusFilter::statuses);
        let mut builds = self.db.builds(project.id, branch, statuses, before.map(|b| b.0), limit + 1, 0).await?;
        let next = (builds.len() as i64 > limit).then(|| {
            builds.truncate(limit as usize);
            builds.last().map(|b| b.build_num)
        });
        Ok((project, builds, next.flatten()))
    }

    /// Resolves a build number or `latest` (branch + filter) within a visible project.
    pub async fn find_build(
        &self,
        who: &Principal,
        slug: &ProjectSlug,
        build: &BuildRef,
    ) -> ServiceResult<(Project, Build)> {
        let project = self.projects.visible_project(who, slug).await?;
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
        let project = self.projects.writable_project(who, slug).await?;
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
                let agent = start.agent.as_deref().and_then(agent_name);
                let new = NewBuild { branch: start.branch, revision: start.revision, parallelism: total, agent };
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
                self.open_node(&build, node).await?;
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
        let project = self.projects.writable_project(who, slug).await?;
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
    /// release's screenshots, a baseline). Members of the project and instance admins may;
    /// nobody else.
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
        // Asked of the store itself: a member removed a moment ago pins nothing. An instance
        // admin may pin in every project.
        if self.projects.role(who, &project).await?.is_none() {
            return Err(ServiceError::Forbidden(format!("Only members of {} can pin its builds", slug.short())));
        }
        self.set_pinned(&project, &build, Some(*id), pin).await?;
        self.audit.record(vitrine_store::AuditEvent {
            project: Some(slug.short()),
            build_num: Some(num.0),
            ..super::audit::event_by(who, if pin { AuditAction::BuildPin } else { AuditAction::BuildUnpin })
        });
        Ok(self.db.build(project.id, num).await?)
    }

    /// Pins a build or unpins it, as an administrator (`vitrine admin build pin`; the command
    /// writes its own audit line).
    pub async fn pin_as_admin(&self, slug: &ProjectSlug, num: BuildNum, pin: bool) -> ServiceResult<()> {
        let project = self.projects.project_for_admin(slug).await?;
        let build = self.build_for_admin(slug, &project, num).await?;
        self.set_pinned(&project, &build, None, pin).await
    }

    /// The one way a build is pinned or unpinned (`by` a user, or an administrator): the
    /// store's row, then this server's lookups.
    async fn set_pinned(&self, project: &Project, build: &Build, by: Option<UserId>, pin: bool) -> ServiceResult<()> {
        let pinned = pin.then(|| Pin { by, at: chrono::Utc::now().timestamp() });
        self.db.set_build_pinned(build.id, pinned).await?;
        self.lookups.builds.forget(&(project.id, build.build_num));
        Ok(())
    }

    /// A build by its number, for an administrator: a missing one is named.
    pub async fn build_for_admin(&self, slug: &ProjectSlug, project: &Project, num: BuildNum) -> ServiceResult<Build> {
        match self.db.build(project.id, num).await {
            Ok(b) => Ok(b),
            Err(DbError::NotFound) => {
                Err(ServiceError::NotFound(format!("Build {num} of {} does not exist", slug.short())))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// A build an agent may still add to: running, and this node not finished.
    pub async fn open_node(&self, build: &Build, node: NodeIndex) -> ServiceResult<()> {
        node_is_open(build, node, &self.db.finished_nodes(build.id).await?)
    }

    /// The page people open for a build: `/gh/acme/widgets/42`.
    pub fn build_page_url(&self, project: &Project, build_num: i64) -> String {
        format!("{}{}", self.public_url, crate::urls::build_page(project, build_num))
    }
}

/// Whether `node` of `build` may still add artifacts, given the build's finished nodes.
pub fn node_is_open<S: std::hash::BuildHasher>(
    build: &Build,
    node: NodeIndex,
    finished: &HashSet<i64, S>,
) -> ServiceResult<()> {
    if build.status.is_finished() {
        return Err(ServiceError::Conflict(format!(
            "Build {} is finished ({}): it takes no more artifacts; a re-run is a new build",
            build.build_num,
            build.status.as_str()
        )));
    }
    if node.0 >= build.parallelism {
        return Err(ServiceError::BadRequest(format!(
            "Build {} has {} node(s), numbered 0 to {}; node {node} is not one of them",
            build.build_num,
            build.parallelism,
            build.parallelism - 1
        )));
    }
    if finished.contains(&node.0) {
        return Err(ServiceError::Conflict(format!(
            "Node {node} of build {} has finished: it takes no more artifacts",
            build.build_num
        )));
    }
    Ok(())
}

/// How an agent named itself, kept with its build: the `User-Agent` of Vitrine's agents
/// (`vitrine/0.2.0`), at most 64 plain characters; anything else is not kept.
fn agent_name(user_agent: &str) -> Option<String> {
    let name = user_agent.trim();
    let ours = name.starts_with("vitrine/") || name.starts_with("vitrine-agent/");
    let plain = name.len() <= 64 && name.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
    (ours && plain).then(|| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::agent_name;

    #[test]
    fn only_an_agent_of_ours_is_kept_by_its_plain_name() {
        assert_eq!(agent_name("vitrine/0.2.0").as_deref(), Some("vitrine/0.2.0"));
        assert_eq!(agent_name(" vitrine-agent/0.2.0 ").as_deref(), Some("vitrine-agent/0.2.0"));
        for other in ["curl/8.0", "vitrine/\u{202e}1.0", &format!("vitrine/{}", "9".repeat(64)), "vitrine/1\n2"] {
            assert_eq!(agent_name(other), None, "{other:?}");
        }
    }
}
