//! What people change from the browser: a project's settings (its maintainers), their own
//! account (everyone signed in) and the instance (its admins). Each change is checked against
//! the caller's role here, whatever asks (a page's form, a script with an admin-scope token),
//! and audited as the `vitrine admin` commands are, with the caller and their address.

use std::net::IpAddr;
use std::time::Duration;

use super::accounts::{Accounts, NewToken};
use super::audit::{AuditAction, AuditLog, event_by};
use super::builds::Builds;
use super::error::{ServiceError, ServiceResult};
use super::principal::Principal;
use super::projects::Projects;
use super::retention::Retention;
use super::sign_in::SignIn;
use crate::domain::{BuildNum, ProjectSlug};
use vitrine_store::{
    AuditEvent, Grant, GrantSource, GroupRole, Identity, Project, Purged, Role, SessionInfo, TokenId, TokenInfo,
    TokenOwner, TokenTerms, UserId, UserSummary,
};

/// Who asks, from where, and by which session (to tell it from their other sessions).
#[derive(Debug, Clone)]
pub struct Caller {
    pub who: Principal,
    pub client: Option<IpAddr>,
    pub session: Option<String>,
}

/// What a project's settings page shows.
#[derive(Debug, Clone)]
pub struct ProjectSettings {
    pub project: Project,
    pub grants: Vec<Grant>,
    /// The identity provider groups that give roles in it.
    pub groups: Vec<GroupRole>,
    /// Its build tokens (and its running builds' own, which end with the build).
    pub tokens: Vec<TokenInfo>,
    /// Its own retention (`None`: the server's).
    pub retention: Option<Duration>,
    pub default_retention: Duration,
    /// Its own default branch (`None`: `main`).
    pub default_branch: Option<String>,
}

/// What a person's account page shows.
#[derive(Debug, Clone)]
pub struct AccountPage {
    pub user_id: UserId,
    pub username: String,
    pub tokens: Vec<TokenInfo>,
    pub sessions: Vec<SessionInfo>,
    /// Whether the account has a password (people made at their first sign-in through an
    /// identity provider have none).
    pub password: bool,
}

/// The longest a project may keep artifacts: ten years.
const MAX_RETENTION: Duration = Duration::from_secs(10 * 366 * 86_400);

/// A retention a person asked for: a day at least (shorter would expire builds still being
/// looked at), ten years at most.
pub fn check_retention(retention: Duration) -> ServiceResult<Duration> {
    if retention < Duration::from_secs(86_400) {
        return Err(ServiceError::BadRequest("Keep artifacts a day (1d) or longer".into()));
    }
    if retention > MAX_RETENTION {
        return Err(ServiceError::BadRequest("Keep artifacts ten years at most".into()));
    }
    Ok(retention)
}

#[derive(Clone)]
pub struct Manage {
    accounts: Accounts,
    projects: Projects,
    builds: Builds,
    retention: Retention,
    sign_in: SignIn,
    audit: AuditLog,
}

/// What [`Manage`] is made of: the features whose changes it checks and audits.
pub struct ManageParts {
    pub accounts: Accounts,
    pub projects: Projects,
    pub builds: Builds,
    pub retention: Retention,
    pub sign_in: SignIn,
    pub audit: AuditLog,
}

impl Manage {
    pub fn new(parts: ManageParts) -> Manage {
        let ManageParts { accounts, projects, builds, retention, sign_in, audit } = parts;
        Manage { accounts, projects, builds, retention, sign_in, audit }
    }

    /// The audit line of a change by `caller`, about `project` when it is one's.
    fn event(caller: &Caller, action: AuditAction, project: Option<&Project>, detail: String) -> AuditEvent {
        AuditEvent {
            project: project.map(Project::short_slug),
            detail,
            client: caller.client.map(|c| c.to_string()),
            ..event_by(&caller.who, action)
        }
    }

    fn record(&self, caller: &Caller, action: AuditAction, project: Option<&Project>, detail: String) {
        self.audit.record(Self::event(caller, action, project, detail));
    }

    // ---- a project's settings: its maintainers and the instance's admins -------------------

    /// The settings of a project the caller maintains (anyone else: the same 404 as a
    /// project they cannot see).
    pub async fn project_settings(&self, caller: &Caller, slug: &ProjectSlug) -> ServiceResult<ProjectSettings> {
        let project = self.projects.maintained_project(&caller.who, slug).await?;
        Ok(ProjectSettings {
            grants: self.projects.grants(project.id).await?,
            groups: self.sign_in.group_roles(&project).await?,
            tokens: self.accounts.tokens_of(TokenOwner::Project(project.id)).await?,
            retention: self.retention.project_retention(project.id).await?,
            default_retention: self.retention.default_retention(),
            default_branch: self.projects.default_branch_set(project.id).await?,
            project,
        })
    }

    /// Adds a member by username; someone who already has a role granted by hand is told so
    /// (change it with [`Manage::set_member_role`]).
    pub async fn add_member(
        &self,
        caller: &Caller,
        slug: &ProjectSlug,
        username: &str,
        role: Role,
    ) -> ServiceResult<()> {
        let project = self.projects.maintained_project(&caller.who, slug).await?;
        let username = username.trim();
        let user = self.accounts.user(username).await?;
        let grants = self.projects.grants(project.id).await?;
        if let Some(kept) = by_hand(&grants, user.id) {
            return Err(ServiceError::Conflict(format!(
                "{username} is already a {} of {}: change their role in the list of members",
                kept.role.as_str(),
                project.short_slug()
            )));
        }
        self.projects.grant(project.id, user.id, role, &GrantSource::Hand).await?;
        self.record(caller, AuditAction::MemberAdd, Some(&project), format!("{username} as {}", role.as_str()));
        Ok(())
    }

    /// Changes the role a member was granted by hand.
    pub async fn set_member_role(
        &self,
        caller: &Caller,
        slug: &ProjectSlug,
        username: &str,
        role: Role,
    ) -> ServiceResult<()> {
        let project = self.projects.maintained_project(&caller.who, slug).await?;
        let user = self.accounts.user(username).await?;
        let grants = self.projects.grants(project.id).await?;
        if by_hand(&grants, user.id).is_none() {
            return Err(ServiceError::NotFound(format!(
                "{username} has no role granted by hand in {}: add them first",
                project.short_slug()
            )));
        }
        last_maintainer_stays(&grants, &project, user.id, Some(role))?;
        self.projects.grant(project.id, user.id, role, &GrantSource::Hand).await?;
        self.record(caller, AuditAction::MemberRole, Some(&project), format!("{username} as {}", role.as_str()));
        Ok(())
    }

    /// Removes the role a member was granted by hand (a group's grant stays with the group).
    pub async fn remove_member(&self, caller: &Caller, slug: &ProjectSlug, username: &str) -> ServiceResult<()> {
        let project = self.projects.maintained_project(&caller.who, slug).await?;
        let user = self.accounts.user(username).await?;
        last_maintainer_stays(&self.projects.grants(project.id).await?, &project, user.id, None)?;
        self.projects.remove_member(&project, &user).await?;
        self.record(caller, AuditAction::MemberRemove, Some(&project), username.to_owned());
        Ok(())
    }

    /// Makes an identity provider group's members `role` in the project.
    pub async fn map_group(&self, caller: &Caller, slug: &ProjectSlug, group: &str, role: Role) -> ServiceResult<()> {
        let project = self.projects.maintained_project(&caller.who, slug).await?;
        let group = group.trim();
        self.sign_in.map_group(&project, group, role).await?;
        self.record(caller, AuditAction::GroupMap, Some(&project), format!("{group} as {}", role.as_str()));
        Ok(())
    }

    /// Stops a group giving a role in the project; what it gave is taken back.
    pub async fn unmap_group(&self, caller: &Caller, slug: &ProjectSlug, group: &str) -> ServiceResult<()> {
        let project = self.projects.maintained_project(&caller.who, slug).await?;
        self.sign_in.unmap_group(&project, group).await?;
        self.record(caller, AuditAction::GroupUnmap, Some(&project), group.to_owned());
        Ok(())
    }

    /// A new build token, shown once.
    pub async fn create_build_token(
        &self,
        caller: &Caller,
        slug: &ProjectSlug,
        label: &str,
    ) -> ServiceResult<NewToken> {
        let project = self.projects.maintained_project(&caller.who, slug).await?;
        let terms = TokenTerms { label: label.trim().to_owned(), ..TokenTerms::plain() };
        let made = self.accounts.create_project_token(project.id, &terms).await?;
        self.record(caller, AuditAction::ProjectToken, Some(&project), format!("id {}", made.id));
        Ok(made)
    }

    pub async fn revoke_build_token(&self, caller: &Caller, slug: &ProjectSlug, id: TokenId) -> ServiceResult<()> {
        let project = self.projects.maintained_project(&caller.who, slug).await?;
        self.accounts.revoke_token_of(TokenOwner::Project(project.id), id).await?;
        self.record(caller, AuditAction::ProjectTokenRevoke, Some(&project), format!("id {id}"));
        Ok(())
    }

    pub async fn set_visibility(&self, caller: &Caller, slug: &ProjectSlug, public: bool) -> ServiceResult<()> {
        let project = self.projects.maintained_project(&caller.who, slug).await?;
        self.projects.set_public(&project, public).await?;
        let detail = if public { "public" } else { "private" };
        self.record(caller, AuditAction::ProjectVisibility, Some(&project), detail.to_owned());
        Ok(())
    }

    /// The project's own retention, or `None` for the server's.
    pub async fn set_retention(
        &self,
        caller: &Caller,
        slug: &ProjectSlug,
        retention: Option<Duration>,
    ) -> ServiceResult<()> {
        let project = self.projects.maintained_project(&caller.who, slug).await?;
        let retention = retention.map(check_retention).transpose()?;
        self.retention.set_project_retention(&project, retention).await?;
        let detail = retention.map_or("default".to_owned(), |d| format!("{}d", d.as_secs() / 86_400));
        self.record(caller, AuditAction::ProjectRetention, Some(&project), detail);
        Ok(())
    }

    pub async fn set_default_branch(
        &self,
        caller: &Caller,
        slug: &ProjectSlug,
        branch: Option<&str>,
    ) -> ServiceResult<()> {
        let project = self.projects.maintained_project(&caller.who, slug).await?;
        self.projects.set_default_branch_of(&project, branch).await?;
        self.record(caller, AuditAction::ProjectDefaultBranch, Some(&project), branch.unwrap_or("default").to_owned());
        Ok(())
    }

    /// Removes a build's artifacts, or one path of a build, now (see `admin purge`).
    pub async fn purge(
        &self,
        caller: &Caller,
        slug: &ProjectSlug,
        build: BuildNum,
        path: Option<&str>,
    ) -> ServiceResult<Purged> {
        let project = self.projects.maintained_project(&caller.who, slug).await?;
        let purged = self.retention.purge(slug, Some(build), path).await?;
        if path.is_some() && purged.artifacts == 0 {
            return Err(ServiceError::NotFound(format!(
                "Build {build} has no artifact at `{}`: give the path as the Artifacts tab lists it",
                path.unwrap_or_default()
            )));
        }
        let detail = path.unwrap_or_default().to_owned();
        let event = Self::event(caller, AuditAction::Purge, Some(&project), detail);
        self.audit.record(AuditEvent { build_num: Some(build.0), ..event });
        Ok(purged)
    }

    /// What a purge would remove exists, for the caller to confirm: the build, in a project
    /// they maintain. Nothing is removed.
    pub async fn purge_target(&self, caller: &Caller, slug: &ProjectSlug, build: BuildNum) -> ServiceResult<()> {
        let project = self.projects.maintained_project(&caller.who, slug).await?;
        self.builds.build_for_admin(slug, &project, build).await?;
        Ok(())
    }

    // ---- one's own account: everyone signed in ---------------------------------------------

    /// The signed-in user behind the caller; anyone else is asked to sign in.
    fn user_of(caller: &Caller) -> ServiceResult<(UserId, &str)> {
        match &caller.who {
            Principal::User { id, username, .. } if caller.who.may_change() => Ok((*id, username)),
            Principal::User { .. } => {
                Err(ServiceError::Forbidden("This token may only read: use one with the admin scope".into()))
            }
            _ => Err(ServiceError::Unauthorized("Sign in to see your account".into())),
        }
    }

    pub async fn account(&self, caller: &Caller) -> ServiceResult<AccountPage> {
        let (user_id, username) = Self::user_of(caller)?;
        Ok(AccountPage {
            user_id,
            username: username.to_owned(),
            tokens: self.accounts.tokens_of(TokenOwner::User(user_id)).await?,
            sessions: self.accounts.sessions(user_id, caller.session.as_deref()).await?,
            password: self.accounts.has_password(user_id).await?,
        })
    }

    /// A personal API token, shown once.
    pub async fn create_token(&self, caller: &Caller, terms: &TokenTerms) -> ServiceResult<NewToken> {
        let (user_id, _) = Self::user_of(caller)?;
        let made = self.accounts.create_user_token(user_id, terms).await?;
        let detail = format!("id {}, {}", made.id, terms.scope.as_str());
        self.record(caller, AuditAction::TokenCreate, None, detail);
        Ok(made)
    }

    pub async fn revoke_token(&self, caller: &Caller, id: TokenId) -> ServiceResult<()> {
        let (user_id, _) = Self::user_of(caller)?;
        self.accounts.revoke_token_of(TokenOwner::User(user_id), id).await?;
        self.record(caller, AuditAction::TokenRevoke, None, format!("id {id}"));
        Ok(())
    }

    /// Signs the caller out everywhere but here; answers how many sessions ended.
    pub async fn sign_out_others(&self, caller: &Caller) -> ServiceResult<u64> {
        let (user_id, _) = Self::user_of(caller)?;
        let ended = self.accounts.sign_out_others(user_id, caller.session.as_deref()).await?;
        self.record(caller, AuditAction::SessionRevoke, None, format!("{ended} other session(s)"));
        Ok(ended)
    }

    pub async fn change_password(&self, caller: &Caller, current: &str, new: &str) -> ServiceResult<()> {
        let (user_id, _) = Self::user_of(caller)?;
        self.accounts.change_password(user_id, current, new, caller.session.as_deref()).await?;
        self.record(caller, AuditAction::PasswordChange, None, String::new());
        Ok(())
    }

    // ---- the instance: its admins ---------------------------------------------------------

    /// Admins only, by a session or an admin-scope token; to anyone else the pages do not
    /// exist.
    fn admin_only(caller: &Caller) -> ServiceResult<()> {
        if caller.who.is_admin() && caller.who.may_change() {
            Ok(())
        } else {
            Err(ServiceError::NotFound("Not found".into()))
        }
    }

    /// Who is who at the identity providers.
    pub async fn identities(&self, caller: &Caller) -> ServiceResult<Vec<Identity>> {
        Self::admin_only(caller)?;
        self.sign_in.identities(None).await
    }

    /// Gives an identity at a provider to a user (an existing local account, say).
    pub async fn link_identity(
        &self,
        caller: &Caller,
        username: &str,
        issuer: &str,
        subject: &str,
    ) -> ServiceResult<()> {
        Self::admin_only(caller)?;
        let subject = subject.trim();
        self.sign_in.link(username.trim(), issuer, subject).await?;
        self.record(caller, AuditAction::UserLink, None, format!("{} is {subject} at {issuer}", username.trim()));
        Ok(())
    }

    pub async fn unlink_identity(&self, caller: &Caller, issuer: &str, subject: &str) -> ServiceResult<()> {
        Self::admin_only(caller)?;
        self.sign_in.unlink(issuer, subject).await?;
        self.record(caller, AuditAction::UserUnlink, None, format!("{subject} at {issuer}"));
        Ok(())
    }

    pub async fn users(&self, caller: &Caller) -> ServiceResult<Vec<UserSummary>> {
        Self::admin_only(caller)?;
        self.accounts.users().await
    }

    pub async fn projects(&self, caller: &Caller) -> ServiceResult<Vec<Project>> {
        Self::admin_only(caller)?;
        self.projects.visible_projects(&caller.who).await
    }

    pub async fn add_user(&self, caller: &Caller, username: &str, password: &str, admin: bool) -> ServiceResult<()> {
        Self::admin_only(caller)?;
        let username = username.trim();
        self.accounts.add_user(username, password, admin).await?;
        let detail = if admin { format!("{username} (admin)") } else { username.to_owned() };
        self.record(caller, AuditAction::UserAdd, None, detail);
        Ok(())
    }

    pub async fn set_user_disabled(&self, caller: &Caller, username: &str, disabled: bool) -> ServiceResult<()> {
        Self::admin_only(caller)?;
        self.accounts.set_user_disabled(username, disabled).await?;
        let action = if disabled { AuditAction::UserDisable } else { AuditAction::UserEnable };
        self.record(caller, action, None, username.to_owned());
        Ok(())
    }

    pub async fn set_user_admin(&self, caller: &Caller, username: &str, admin: bool) -> ServiceResult<()> {
        Self::admin_only(caller)?;
        self.accounts.set_admin(username, admin).await?;
        let action = if admin { AuditAction::UserPromote } else { AuditAction::UserDemote };
        self.record(caller, action, None, username.to_owned());
        Ok(())
    }

    pub async fn add_project(&self, caller: &Caller, slug: &ProjectSlug, public: bool) -> ServiceResult<()> {
        Self::admin_only(caller)?;
        if self.projects.project_for_admin(slug).await.is_ok() {
            return Err(ServiceError::Conflict(format!("{} exists already", slug.short())));
        }
        self.projects.add_project(slug, public).await?;
        let project = self.projects.project_for_admin(slug).await?;
        self.record(caller, AuditAction::ProjectAdd, Some(&project), if public { "public" } else { "private" }.into());
        Ok(())
    }
}

/// The role `user_id` was granted by hand in a project, among its grants.
fn by_hand(grants: &[Grant], user_id: UserId) -> Option<&Grant> {
    grants.iter().find(|g| g.user_id == user_id && g.source == GrantSource::Hand)
}

/// A project keeps a maintainer granted by hand while it has one: the last cannot remove
/// themselves or step down to `next` (an instance admin can always take over).
fn last_maintainer_stays(
    grants: &[Grant],
    project: &Project,
    user_id: UserId,
    next: Option<Role>,
) -> ServiceResult<()> {
    if next == Some(Role::Maintainer) {
        return Ok(());
    }
    let mut maintainers =
        grants.iter().filter(|g| g.role == Role::Maintainer && g.source == GrantSource::Hand).map(|g| g.user_id);
    if maintainers.next() == Some(user_id) && maintainers.next().is_none() {
        return Err(ServiceError::Conflict(format!(
            "This is the last maintainer of {}: make someone else a maintainer first",
            project.short_slug()
        )));
    }
    Ok(())
}
