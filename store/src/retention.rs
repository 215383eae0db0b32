//! What retention sees of the metadata store: how long a project keeps builds, its default
//! branch, pins, and the builds whose artifacts expired; and the macro that implements it for
//! both stores.

use super::error::DbResult;
use super::models::Build;

/// Retention: what is kept, for how long, and what it is compared with.
#[async_trait::async_trait]
pub trait RetentionStore: Send + Sync {
    /// A project's own retention (`None`: the server's).
    async fn set_project_retention(&self, project_id: i64, retention_secs: Option<i64>) -> DbResult<()>;
    /// The branch other branches compare against (`None`: `main`).
    async fn set_default_branch(&self, project_id: i64, branch: Option<&str>) -> DbResult<()>;
    async fn default_branch(&self, project_id: i64) -> DbResult<Option<String>>;
    /// The newest successful build of a branch numbered below `before`: what a build's
    /// screenshots are compared with.
    async fn last_green_before(&self, project_id: i64, branch: &str, before: i64) -> DbResult<Option<Build>>;
    /// Pins a build (by `user_id`, now) or unpins it (`None`).
    async fn set_build_pinned(&self, build_id: i64, pinned: Option<(Option<i64>, i64)>) -> DbResult<()>;
    /// Closed builds, oldest first, that started before their project's retention (or
    /// `default_secs`) counted back from `now`, still have their artifacts, are not pinned and
    /// are not the latest successful build of their branch: (project id, build id).
    async fn expired_builds(&self, now: i64, default_secs: i64, limit: i64) -> DbResult<Vec<(i64, i64)>>;
    async fn mark_artifacts_expired(&self, build_id: i64, at: i64) -> DbResult<()>;
}

/// Expands to `impl RetentionStore for $store`, its queries written once for both stores.
/// `$store` has a `pool: sqlx::Pool<$db>` (`$db`: `sqlx::Sqlite` or `sqlx::Postgres`); names
/// the query needs (rows, columns, models) are those in scope where it expands.
macro_rules! retention_store {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl RetentionStore for $store {
            async fn set_project_retention(&self, project_id: i64, retention_secs: Option<i64>) -> DbResult<()> {
                let done = sqlx::query("UPDATE projects SET retention_secs = $1 WHERE id = $2")
                    .bind(retention_secs)
                    .bind(project_id)
                    .execute(&self.pool)
                    .await?;
                if done.rows_affected() == 0 { Err(DbError::NotFound) } else { Ok(()) }
            }

            async fn set_default_branch(&self, project_id: i64, branch: Option<&str>) -> DbResult<()> {
                let done = sqlx::query("UPDATE projects SET default_branch = $1 WHERE id = $2")
                    .bind(branch)
                    .bind(project_id)
                    .execute(&self.pool)
                    .await?;
                if done.rows_affected() == 0 { Err(DbError::NotFound) } else { Ok(()) }
            }

            async fn default_branch(&self, project_id: i64) -> DbResult<Option<String>> {
                Ok(sqlx::query_scalar("SELECT default_branch FROM projects WHERE id = $1")
                    .bind(project_id)
                    .fetch_optional(&self.pool)
                    .await?
                    .flatten())
            }

            async fn last_green_before(&self, project_id: i64, branch: &str, before: i64) -> DbResult<Option<Build>> {
                let row: Option<BuildRow> = sqlx::query_as(concat!(
                    "SELECT ",
                    build_columns!(),
                    " FROM builds WHERE project_id = $1 AND branch = $2 AND status = 'success' AND build_num < $3
                      ORDER BY build_num DESC LIMIT 1"
                ))
                .bind(project_id)
                .bind(branch)
                .bind(before)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(Build::from))
            }

            async fn set_build_pinned(&self, build_id: i64, pinned: Option<(Option<i64>, i64)>) -> DbResult<()> {
                let (by, at) = match pinned {
                    Some((by, at)) => (by, Some(at)),
                    None => (None, None),
                };
                sqlx::query("UPDATE builds SET pinned_at = $1, pinned_by = $2 WHERE id = $3")
                    .bind(at)
                    .bind(by)
                    .bind(build_id)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn expired_builds(&self, now: i64, default_secs: i64, limit: i64) -> DbResult<Vec<(i64, i64)>> {
                Ok(sqlx::query_as(
                    "SELECT b.project_id, b.id FROM builds b JOIN projects p ON p.id = b.project_id
                     WHERE b.artifacts_expired_at IS NULL AND b.pinned_at IS NULL AND b.status <> $1
                       AND b.start_time < $2 - COALESCE(p.retention_secs, $3)
                       AND NOT (b.status = $4 AND NOT EXISTS (
                           SELECT 1 FROM builds n
                           WHERE n.project_id = b.project_id AND n.branch = b.branch AND n.status = $4
                             AND n.build_num > b.build_num))
                     ORDER BY b.start_time LIMIT $5",
                )
                .bind(BuildStatus::Running.as_str())
                .bind(now)
                .bind(default_secs)
                .bind(BuildStatus::Success.as_str())
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn mark_artifacts_expired(&self, build_id: i64, at: i64) -> DbResult<()> {
                sqlx::query("UPDATE builds SET artifacts_expired_at = $1 WHERE id = $2")
                    .bind(at)
                    .bind(build_id)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }
        }
    };
}

pub(super) use retention_store;
