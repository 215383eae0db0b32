//! Projects: who may see one and who may write to it, and what an administrator sets on
//! one (members, visibility, default branch).

use super::error::{ServiceError, ServiceResult};
use super::lookups::Lookups;
use super::principal::Principal;
use crate::domain::ProjectSlug;
use std::sync::Arc;

use vitrine_store::{Db, DbError, Grant, GrantSource, Project, ProjectId, ProjectStore, Role, User, UserId};

/// The branch other branches compare against unless a project sets its own.
pub const DEFAULT_BRANCH: &str = "main";

/// Projects and their members.
#[derive(Clone)]
pub struct Projects {
    db: Arc<dyn ProjectStore>,
    /// Recent projects and memberships (see [`super::lookups`]).
    lookups: Lookups,
}

/// A branch name as agents send it: 1 to 255 printable characters.
pub fn check_branch(branch: &str) -> ServiceResult<()> {
    if branch.is_empty() || branch.len() > 255 || branch.chars().any(char::is_control) {
        return Err(ServiceError::BadRequest(format!(
            "Invalid branch `{}`: expected 1 to 255 printable characters",
            branch.escape_debug()
        )));
    }
    Ok(())
}

impl Projects {
    pub fn new(db: &Db, lookups: Lookups) -> Projects {
        Projects { db: db.project_store(), lookups }
    }

    /// A project by its id.
    pub async fn by_id(&self, id: ProjectId) -> ServiceResult<Project> {
        Ok(self.db.project_by_id(id).await?)
    }

    /// Is this user a member of this project, asked of the store itself (for answers that
    /// are kept for the lookups' time themselves: two such times in a row would double the
    /// delay).
    pub async fn is_member_now(&self, project_id: ProjectId, user_id: UserId) -> ServiceResult<bool> {
        Ok(self.db.is_member(project_id, user_id).await?)
    }

    /// The project's own default branch, when it set one.
    pub async fn default_branch_set(&self, project_id: ProjectId) -> ServiceResult<Option<String>> {
        Ok(self.db.default_branch(project_id).await?)
    }

    /// The branch a project's other branches compare their screenshots against.
    pub async fn default_branch(&self, project_id: ProjectId) -> ServiceResult<String> {
        Ok(self.db.default_branch(project_id).await?.unwrap_or_else(|| DEFAULT_BRANCH.to_owned()))
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
            Principal::User { id, admin, .. } => self.db.visible_projects(Some(*id), *admin).await?,
            _ => self.db.visible_projects(None, false).await?,
        };
        if let Principal::BuildAgent { project_id, .. } = who
            && !projects.iter().any(|p| p.id == *project_id)
        {
            projects.push(self.db.project_by_id(*project_id).await?);
        }
        Ok(projects)
    }

    pub async fn can_view(&self, who: &Principal, project: &Project) -> ServiceResult<bool> {
        self.may_view(who, project, false).await
    }

    /// [`Projects::can_view`], with membership asked of the store itself: for answers that
    /// are kept for the lookups' time themselves (two such times in a row would double the
    /// delay).
    pub async fn can_view_now(&self, who: &Principal, project: &Project) -> ServiceResult<bool> {
        self.may_view(who, project, true).await
    }

    async fn may_view(&self, who: &Principal, project: &Project, fresh: bool) -> ServiceResult<bool> {
        Ok(match who {
            _ if project.public => true,
            Principal::User { admin: true, .. } => true,
            Principal::Anonymous | Principal::BuildNode { .. } => false,
            Principal::BuildAgent { project_id, .. } => *project_id == project.id,
            Principal::User { id, .. } if fresh => self.is_member_now(project.id, *id).await?,
            Principal::User { id, .. } => self.is_member(project.id, *id).await?,
        })
    }

    /// Is this user a member of this project (a yes kept a while, a no asked again)?
    pub async fn is_member(&self, project_id: ProjectId, user_id: UserId) -> ServiceResult<bool> {
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

    // ---- administration (`vitrine admin`, later the settings page) ------------------------

    pub async fn add_project(&self, slug: &ProjectSlug, public: bool) -> ServiceResult<()> {
        match self.db.insert_project(slug, public).await {
            Err(DbError::Conflict) => {
                // Adding again updates the visibility: the command is safe to re-run.
                let project = self.db.project_by_slug(slug).await?;
                self.set_public(&project, public).await
            }
            other => other.map(|_| ()).map_err(Into::into),
        }
    }

    /// Grants a role by hand (`admin member add`): re-running it sets the role.
    pub async fn add_member(&self, slug: &ProjectSlug, user: &User, role: Role) -> ServiceResult<()> {
        let project = self.project_for_admin(slug).await?;
        self.grant(project.id, user.id, role, &GrantSource::Hand).await
    }

    /// Grants `role` from `source`, or changes the role that source granted.
    pub async fn grant(
        &self,
        project_id: ProjectId,
        user_id: UserId,
        role: Role,
        source: &GrantSource,
    ) -> ServiceResult<()> {
        self.db.grant(project_id, user_id, role, source).await?;
        self.lookups.members.clear();
        Ok(())
    }

    /// Takes back the role granted by hand; roles granted by a group stay (they go with the
    /// group).
    pub async fn remove_member(&self, project: &Project, user: &User) -> ServiceResult<()> {
        match self.db.revoke_grant(project.id, user.id, &GrantSource::Hand).await {
            Err(DbError::NotFound) => {
                let groups: Vec<String> = (self.db.grants(project.id).await?.into_iter())
                    .filter(|g| g.user_id == user.id)
                    .filter_map(|g| match g.source {
                        GrantSource::Group(name) => Some(name),
                        GrantSource::Hand => None,
                    })
                    .collect();
                Err(if groups.is_empty() {
                    ServiceError::NotFound(format!("{} is not a member of {}", user.username, project.short_slug()))
                } else {
                    ServiceError::Conflict(format!(
                        "{} is a member of {} through the group(s) {}: they leave with the group",
                        user.username,
                        project.short_slug(),
                        groups.join(", ")
                    ))
                })
            }
            other => {
                other?;
                self.lookups.members.clear();
                Ok(())
            }
        }
    }

    /// Every grant in the project, by username.
    pub async fn grants(&self, project_id: ProjectId) -> ServiceResult<Vec<Grant>> {
        Ok(self.db.grants(project_id).await?)
    }

    /// What the principal may do in the project: an instance admin maintains every project;
    /// a user has the highest role any source granted them (asked of the store itself).
    pub async fn role(&self, who: &Principal, project: &Project) -> ServiceResult<Option<Role>> {
        Ok(match who {
            Principal::User { admin: true, .. } => Some(Role::Maintainer),
            Principal::User { id, .. } => self.db.role_of(project.id, *id).await?,
            _ => None,
        })
    }

    /// The project, for a maintainer (or an instance admin) by a session or an admin-scope
    /// token. Anyone else gets the same 404 as a project they cannot see; a maintainer's
    /// read-only token is told what it lacks.
    pub async fn maintained_project(&self, who: &Principal, slug: &ProjectSlug) -> ServiceResult<Project> {
        let project = self.visible_project(who, slug).await?;
        if self.role(who, &project).await? != Some(Role::Maintainer) {
            return Err(ServiceError::project_not_found());
        }
        if !who.may_change() {
            return Err(ServiceError::Forbidden("This token may only read: use one with the admin scope".into()));
        }
        Ok(project)
    }

    /// Makes a project public or private.
    pub async fn set_public(&self, project: &Project, public: bool) -> ServiceResult<()> {
        self.db.set_project_public(project.id, public).await?;
        self.lookups.projects.clear();
        Ok(())
    }

    /// The branch the project's other branches compare their screenshots against (`None`:
    /// `main`).
    pub async fn set_default_branch(&self, slug: &ProjectSlug, branch: Option<&str>) -> ServiceResult<()> {
        let project = self.project_for_admin(slug).await?;
        self.set_default_branch_of(&project, branch).await
    }

    pub async fn set_default_branch_of(&self, project: &Project, branch: Option<&str>) -> ServiceResult<()> {
        if let Some(branch) = branch {
            check_branch(branch)?;
        }
        Ok(self.db.set_default_branch(project.id, branch).await?)
    }

    /// A project by its slug, for an administrator: a missing one is named, with how to add it.
    pub async fn project_for_admin(&self, slug: &ProjectSlug) -> ServiceResult<Project> {
        match self.db.project_by_slug(slug).await {
            Ok(p) => Ok(p),
            Err(DbError::NotFound) => Err(ServiceError::NotFound(format!(
                "No project {slug}: add it first with `vitrine admin project add {}`",
                slug.short()
            ))),
            Err(e) => Err(e.into()),
        }
    }
}
