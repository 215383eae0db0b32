//! What the projects feature sees of the metadata store: projects, who may see them, their
//! members, their default branch; and the macro that implements it for both stores.

use vitrine_wire::domain::ProjectSlug;

use super::error::DbResult;
use super::ids::{ProjectId, UserId};
use super::models::Project;

/// Projects and their members.
#[async_trait::async_trait]
pub trait ProjectStore: Send + Sync {
    async fn insert_project(&self, slug: &ProjectSlug, public: bool) -> DbResult<ProjectId>;
    async fn set_project_public(&self, project_id: ProjectId, public: bool) -> DbResult<()>;
    async fn project_by_slug(&self, slug: &ProjectSlug) -> DbResult<Project>;
    async fn project_by_id(&self, id: ProjectId) -> DbResult<Project>;
    /// Projects a viewer may see: public ones, and those the user is a member of.
    async fn visible_projects(&self, user_id: Option<UserId>) -> DbResult<Vec<Project>>;
    async fn insert_member(&self, project_id: ProjectId, user_id: UserId) -> DbResult<()>;
    async fn is_member(&self, project_id: ProjectId, user_id: UserId) -> DbResult<bool>;
    async fn delete_member(&self, project_id: ProjectId, user_id: UserId) -> DbResult<()>;
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
            async fn visible_projects(&self, user_id: Option<UserId>) -> DbResult<Vec<Project>> {
                let rows: Vec<ProjectRow> = sqlx::query_as(
                    "SELECT id, vcs_type, org, repo, public FROM projects p
                     WHERE public OR EXISTS (
                         SELECT 1 FROM project_members m WHERE m.project_id = p.id AND m.user_id = $1)
                     ORDER BY org, repo, vcs_type",
                )
                .bind(user_id)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(Project::from).collect())
            }

            async fn insert_member(&self, project_id: ProjectId, user_id: UserId) -> DbResult<()> {
                sqlx::query("INSERT INTO project_members (project_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                    .bind(project_id)
                    .bind(user_id)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn is_member(&self, project_id: ProjectId, user_id: UserId) -> DbResult<bool> {
                let found: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM project_members WHERE project_id = $1 AND user_id = $2")
                    .bind(project_id)
                    .bind(user_id)
                    .fetch_one(&self.pool)
                    .await?;
                Ok(found > 0)
            }

            async fn delete_member(&self, project_id: ProjectId, user_id: UserId) -> DbResult<()> {
                let done = sqlx::query("DELETE FROM project_members WHERE project_id = $1 AND user_id = $2")
                    .bind(project_id)
                    .bind(user_id)
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
