//! What test results see of the metadata store: a project's tests (suite, class name, name,
//! file) and each build's runs of them; and the macro that implements it for both stores.

use super::error::DbResult;
use super::ids::{BuildId, ProjectId};
use super::models::{NewTestRun, TestRun};

/// Tests and their runs.
#[async_trait::async_trait]
pub trait TestResultStore: Send + Sync {
    /// Adds runs to a build, after those it has, in one transaction; each test is found or
    /// made in the project by (suite, class name, name, file). Answers how many were added.
    async fn insert_test_runs(
        &self,
        project_id: ProjectId,
        build_id: BuildId,
        node_index: i64,
        source: &str,
        runs: &[NewTestRun],
    ) -> DbResult<u64>;
    /// A build's runs in order, `limit` at most after place `after` (0: from the start).
    async fn test_runs(&self, build_id: BuildId, after: i64, limit: i64) -> DbResult<Vec<TestRun>>;
    /// How many runs a build has.
    async fn test_run_count(&self, build_id: BuildId) -> DbResult<i64>;
}

/// Expands to `impl TestResultStore for $store`, its queries written once for both stores.
macro_rules! test_result_store {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl TestResultStore for $store {
            async fn insert_test_runs(
                &self,
                project_id: ProjectId,
                build_id: BuildId,
                node_index: i64,
                source: &str,
                runs: &[NewTestRun],
            ) -> DbResult<u64> {
                let mut tx = self.begin_write().await?;
                let last: i64 = sqlx::query_scalar("SELECT CAST(COALESCE(MAX(seq), 0) AS BIGINT) FROM test_runs WHERE build_id = $1")
                    .bind(build_id)
                    .fetch_one(&mut *tx)
                    .await?;
                for (i, run) in runs.iter().enumerate() {
                    let test_id: i64 = sqlx::query_scalar(
                        "INSERT INTO tests (project_id, suite, classname, name, file) VALUES ($1, $2, $3, $4, $5)
                         ON CONFLICT (project_id, suite, classname, name, file) DO UPDATE SET name = excluded.name
                         RETURNING id",
                    )
                    .bind(project_id)
                    .bind(&run.suite)
                    .bind(&run.classname)
                    .bind(&run.name)
                    .bind(&run.file)
                    .fetch_one(&mut *tx)
                    .await?;
                    sqlx::query(
                        "INSERT INTO test_runs (build_id, seq, node_index, test_id, result, run_time, message, detail, source, attachments)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                    )
                    .bind(build_id)
                    .bind(last + 1 + i as i64)
                    .bind(node_index)
                    .bind(test_id)
                    .bind(run.result.as_str())
                    .bind(run.run_time)
                    .bind(&run.message)
                    .bind(&run.detail)
                    .bind(source)
                    .bind(run.attachments.join("\n"))
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(runs.len() as u64)
            }

            async fn test_runs(&self, build_id: BuildId, after: i64, limit: i64) -> DbResult<Vec<TestRun>> {
                let rows: Vec<TestRunRow> = sqlx::query_as(
                    "SELECT r.test_id, r.seq, r.node_index, t.suite, t.classname, t.name, t.file, r.result, r.run_time,
                            r.message, r.detail, r.source, r.attachments
                     FROM test_runs r JOIN tests t ON t.id = r.test_id
                     WHERE r.build_id = $1 AND r.seq > $2 ORDER BY r.seq LIMIT $3",
                )
                .bind(build_id)
                .bind(after)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(TestRun::from).collect())
            }

            async fn test_run_count(&self, build_id: BuildId) -> DbResult<i64> {
                Ok(sqlx::query_scalar("SELECT COUNT(*) FROM test_runs WHERE build_id = $1")
                    .bind(build_id)
                    .fetch_one(&self.pool)
                    .await?)
            }
        }
    };
}

pub(super) use test_result_store;
