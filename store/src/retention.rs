//! What retention sees of the metadata store: how long a project keeps builds, the builds
//! whose artifacts expired, purges and the objects they doom; and the macro that implements
//! it for both stores.

use super::error::DbResult;
use super::ids::{BuildId, ProjectId};
use super::models::{ExpiredBuild, Purged};

/// Retention: what is kept, for how long, and taking it out before.
#[async_trait::async_trait]
pub trait RetentionStore: Send + Sync {
    /// A project's own retention (`None`: the server's).
    async fn set_project_retention(&self, project_id: ProjectId, retention_secs: Option<i64>) -> DbResult<()>;
    /// A project's own retention in seconds (`None`: the server's).
    async fn project_retention(&self, project_id: ProjectId) -> DbResult<Option<i64>>;
    /// Closed builds, oldest first, that started before their project's retention (or
    /// `default_secs`) counted back from `now`, still have their artifacts, are not pinned and
    /// are not the latest successful build of their branch: (project id, build id).
    async fn expired_builds(&self, now: i64, default_secs: i64, limit: i64) -> DbResult<Vec<ExpiredBuild>>;
    async fn mark_artifacts_expired(&self, build_id: BuildId, at: i64) -> DbResult<()>;
    /// Removes artifacts from listings at once: a project's, a build's, or one path of a build
    /// (on every node). Objects nothing lists any more are doomed for the sweeper to delete
    /// (and can no longer be reused); answers (what was removed, doomed and kept).
    async fn purge(
        &self,
        project_id: ProjectId,
        build_id: Option<BuildId>,
        pretty_path: Option<&str>,
    ) -> DbResult<Purged>;
    /// Objects doomed by purges, oldest first.
    async fn doomed_objects(&self, limit: i64) -> DbResult<Vec<String>>;
    async fn forget_doomed(&self, s3_key: &str) -> DbResult<()>;
}

/// Expands to `impl RetentionStore for $store`, its queries written once for both stores.
/// `$store` has a `pool: sqlx::Pool<$db>` (`$db`: `sqlx::Sqlite` or `sqlx::Postgres`); names
/// the query needs (rows, columns, models) are those in scope where it expands.
macro_rules! retention_store {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl RetentionStore for $store {
            async fn set_project_retention(&self, project_id: ProjectId, retention_secs: Option<i64>) -> DbResult<()> {
                let done = sqlx::query("UPDATE projects SET retention_secs = $1 WHERE id = $2")
                    .bind(retention_secs)
                    .bind(project_id)
                    .execute(&self.pool)
                    .await?;
                if done.rows_affected() == 0 { Err(DbError::NotFound) } else { Ok(()) }
            }

            async fn project_retention(&self, project_id: ProjectId) -> DbResult<Option<i64>> {
                let kept: Option<Option<i64>> = sqlx::query_scalar("SELECT retention_secs FROM projects WHERE id = $1")
                    .bind(project_id)
                    .fetch_optional(&self.pool)
                    .await?;
                kept.ok_or(DbError::NotFound)
            }

            async fn expired_builds(&self, now: i64, default_secs: i64, limit: i64) -> DbResult<Vec<ExpiredBuild>> {
                let rows: Vec<(ProjectId, BuildId)> = sqlx::query_as(
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
                .await?;
                Ok(rows.into_iter().map(|(project_id, build_id)| ExpiredBuild { project_id, build_id }).collect())
            }

            async fn mark_artifacts_expired(&self, build_id: BuildId, at: i64) -> DbResult<()> {
                sqlx::query("UPDATE builds SET artifacts_expired_at = $1 WHERE id = $2")
                    .bind(at)
                    .bind(build_id)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn purge(&self, project_id: ProjectId, build_id: Option<BuildId>, pretty_path: Option<&str>) -> DbResult<Purged> {
                let mut tx = self.begin_write().await?;
                const CHOSEN: &str = "FROM artifacts a JOIN builds b ON b.id = a.build_id
                     WHERE b.project_id = $1 AND ($2 IS NULL OR a.build_id = $2) AND ($3 IS NULL OR a.pretty_path = $3)";
                let keys: Vec<String> = sqlx::query_scalar(&format!("SELECT DISTINCT a.s3_key {CHOSEN}"))
                    .bind(project_id)
                    .bind(build_id)
                    .bind(pretty_path)
                    .fetch_all(&mut *tx)
                    .await?;
                // Caches of these builds' listings go stale with this (see `Build::listing_version`).
                sqlx::query(&format!(
                    "UPDATE builds SET listing_version = listing_version + 1 WHERE id IN (SELECT a.build_id {CHOSEN})"
                ))
                .bind(project_id)
                .bind(build_id)
                .bind(pretty_path)
                .execute(&mut *tx)
                .await?;
                let removed = sqlx::query(&format!("DELETE FROM artifacts WHERE id IN (SELECT a.id {CHOSEN})"))
                    .bind(project_id)
                    .bind(build_id)
                    .bind(pretty_path)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                // Test results go with their build, and with the report they were read from.
                sqlx::query(
                    "DELETE FROM test_runs WHERE build_id IN (SELECT id FROM builds WHERE project_id = $1 AND ($2 IS NULL OR id = $2))
                     AND ($3 IS NULL OR source = $3)",
                )
                .bind(project_id)
                .bind(build_id)
                .bind(pretty_path)
                .execute(&mut *tx)
                .await?;
                let mut doomed = 0u64;
                for chunk in keys.chunks(ROWS_PER_STATEMENT) {
                    // Gone from `blobs`, an object can no longer be reused by a plan.
                    let mut q: QueryBuilder<$db> = QueryBuilder::new("DELETE FROM blobs WHERE refs <= 0 AND s3_key IN (");
                    let mut list = q.separated(", ");
                    for key in chunk {
                        list.push_bind(key);
                    }
                    q.push(") RETURNING s3_key");
                    let gone: Vec<(String,)> = q.build_query_as().fetch_all(&mut *tx).await?;
                    if gone.is_empty() {
                        continue;
                    }
                    doomed += gone.len() as u64;
                    let at = now();
                    let mut q: QueryBuilder<$db> = QueryBuilder::new("INSERT INTO doomed_objects (s3_key, doomed_at) ");
                    q.push_values(&gone, |mut row, (key,)| {
                        row.push_bind(key).push_bind(at);
                    });
                    q.push(" ON CONFLICT DO NOTHING");
                    q.build().execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(Purged { artifacts: removed, doomed_objects: doomed, shared_objects: keys.len() as u64 - doomed })
            }

            async fn doomed_objects(&self, limit: i64) -> DbResult<Vec<String>> {
                Ok(sqlx::query_scalar("SELECT s3_key FROM doomed_objects ORDER BY doomed_at LIMIT $1")
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn forget_doomed(&self, s3_key: &str) -> DbResult<()> {
                sqlx::query("DELETE FROM doomed_objects WHERE s3_key = $1").bind(s3_key).execute(&self.pool).await?;
                Ok(())
            }
        }
    };
}

pub(super) use retention_store;
