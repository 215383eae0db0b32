//! What the projects feature sees of the metadata store: projects, who may see them, their
//! members, their default branch; and the macro that implements it for both stores.

use vitrine_wire::domain::ProjectSlug;

use super::error::DbResult;
use super::ids::{ProjectId, UserId};
use super::models::{Grant, GrantSource, Project, Role};

/// Projects and their members.
#[async_trait::async_trait]
pub trait ProjectStore: Send + Sync {
    async fn insert_project(&self, slug: &ProjectSlug, public: bool) -> DbResult<ProjectId>;
    async fn set_project_public(&self, project_id: ProjectId, public: bool) -> DbResult<()>;
    async fn project_by_slug(&self, slug: &ProjectSlug) -> DbResult<Project>;
    async fn project_by_id(&self, id: ProjectId) -> DbResult<Project>;
    /// Projects a viewer may see: public ones, and those the user is a member of (every one
    /// for `every`: an instance admin).
    async fn visible_projects(&self, user_id: Option<UserId>, every: bool) -> DbResult<Vec<Project>>;
    /// Grants `role` from `source`, or changes the role that source granted.
    async fn grant(&self, project_id: ProjectId, user_id: UserId, role: Role, source: &GrantSource) -> DbResult<()>;
    async fn is_member(&self, project_id: ProjectId, user_id: UserId) -> DbResult<bool>;
    /// The user's role in the project: the highest any source granted.
    async fn role_of(&self, project_id: ProjectId, user_id: UserId) -> DbResult<Option<Role>>;
    /// Takes back the grant of one source; the others stay.
    async fn revoke_grant(&self, project_id: ProjectId, user_id: UserId, source: &GrantSource) -> DbResult<()>;
    /// Every grant in the project, by username.
    async fn grants(&self, project_id: ProjectId) -> DbResult<Vec<Grant>>;
    /// The branch other branches compare against (`None`: `main`).
    async fn set_default_branch(&self, project_id: ProjectId, branch: Option<&str>) -> DbResult<()>;
    async fn default_branch(&self, project_id: ProjectId) -> DbResult<Option<String>>;
}

/// Expands to `impl ProjectStore for $store`, its queries written once for both stores.
/// `$store` has a `pool: sqlx::Pool<$db>` (`$db`: `sqlx::Sqlite` or `sqlx::Postgres`); names
/// the query needs (rows, columns, models) are those in scope where it expands.
macro_rules! project_store {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl ProjectStore for $store {
            async fn insert_project(&self, slug: &ProjectSlug, public: bool) -> DbResult<ProjectId> {
                sqlx::query_scalar(
                    "INSERT INTO projects (vcs_type, org, repo, public, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
                )
                .bind(slug.vcs.as_str())
                .bind(&slug.org)
                .bind(&slug.repo)
                .bind(public)
                .bind(now())
                .fetch_one(&self.pool)
                .await
                .map_err(DbError::from_sqlx)
            }

            async fn set_project_public(&self, project_id: ProjectId, public: bool) -> DbResult<()> {
                sqlx::query("UPDATE projects SET public = $1 WHERE id = $2")
                    .bind(public)
                    .bind(project_id)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn project_by_slug(&self, slug: &ProjectSlug) -> DbResult<Project> {
                sqlx::query_as::<_, ProjectRow>(
                    "SELECT id, vcs_type, org, repo, public FROM projects WHERE vcs_type = $1 AND org = $2 AND repo = $3",
                )
                .bind(slug.vcs.as_str())
                .bind(&slug.org)
                .bind(&slug.repo)
                .fetch_one(&self.pool)
                .await
                .map(Project::from)
                .map_err(DbError::from_sqlx)
            }

            async fn project_by_id(&self, id: ProjectId) -> DbResult<Project> {
                sqlx::query_as::<_, ProjectRow>("SELECT id, vcs_type, org, repo, public FROM projects WHERE id = $1")
                    .bind(id)
                    .fetch_one(&self.pool)
                    .await
                    .map(Project::from)
                    .map_err(DbError::from_sqlx)
            }

            /// Projects a viewer may see: public ones, and those the user is a member of.
            async fn visible_projects(&self, user_id: Option<UserId>, every: bool) -> DbResult<Vec<Project>> {
                let rows: Vec<ProjectRow> = sqlx::query_as(
                    "SELECT id, vcs_type, org, repo, public FROM projects p
                     WHERE $2 OR public OR EXISTS (
                         SELECT 1 FROM project_members m WHERE m.project_id = p.id AND m.user_id = $1)
                     ORDER BY org, repo, vcs_type",
                )
                .bind(user_id)
                .bind(every)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(Project::from).collect())
            }

            async fn grant(&self, project_id: ProjectId, user_id: UserId, role: Role, source: &GrantSource) -> DbResult<()> {
                sqlx::query(
                    "INSERT INTO project_members (project_id, user_id, role, source, granted_at) VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (project_id, user_id, source) DO UPDATE SET role = excluded.role",
                )
                .bind(project_id)
                .bind(user_id)
                .bind(role.as_str())
                .bind(source.stored())
                .bind(now())
                .execute(&self.pool)
                .await
                .map_err(DbError::from_sqlx)?;
                Ok(())
            }

            async fn role_of(&self, project_id: ProjectId, user_id: UserId) -> DbResult<Option<Role>> {
                let roles: Vec<String> =
                    sqlx::query_scalar("SELECT role FROM project_members WHERE project_id = $1 AND user_id = $2")
                        .bind(project_id)
                        .bind(user_id)
                        .fetch_all(&self.pool)
                        .await?;
                Ok(roles.iter().filter_map(|r| r.parse::<Role>().ok()).max())
            }

            async fn grants(&self, project_id: ProjectId) -> DbResult<Vec<Grant>> {
                let rows: Vec<GrantRow> = sqlx::query_as(
                    "SELECT m.user_id, u.username, m.role, m.source, m.granted_at
                     FROM project_members m JOIN users u ON u.id = m.user_id
                     WHERE m.project_id = $1 ORDER BY u.username, m.source",
                )
                .bind(project_id)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(Grant::from).collect())
            }

            async fn is_member(&self, project_id: ProjectId, user_id: UserId) -> DbResult<bool> {
                let found: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM project_members WHERE project_id = $1 AND user_id = $2")
                    .bind(project_id)
                    .bind(user_id)
                    .fetch_one(&self.pool)
                    .await?;
                Ok(found > 0)
            }

            async fn revoke_grant(&self, project_id: ProjectId, user_id: UserId, source: &GrantSource) -> DbResult<()> {
                let done = sqlx::query("DELETE FROM project_members WHERE project_id = $1 AND user_id = $2 AND source = $3")
                    .bind(project_id)
                    .bind(user_id)
                    .bind(source.stored())
                    .execute(&self.pool)
                    .await?;
                if done.rows_affected() == 0 { Err(DbError::NotFound) } else { Ok(()) }
            }

            async fn set_default_branch(&self, project_id: ProjectId, branch: Option<&str>) -> DbResult<()> {
                let done = sqlx::query("UPDATE projects SET default_branch = $1 WHERE id = $2")
                    .bind(branch)
                    .bind(project_id)
                    .execute(&self.pool)
                    .await?;
                if done.rows_affected() == 0 { Err(DbError::NotFound) } else { Ok(()) }
            }

            async fn default_branch(&self, project_id: ProjectId) -> DbResult<Option<String>> {
                Ok(sqlx::query_scalar("SELECT default_branch FROM projects WHERE id = $1")
                    .bind(project_id)
                    .fetch_optional(&self.pool)
                    .await?
                    .flatten())
            }
        }
    };
}

pub(super) use project_store;
