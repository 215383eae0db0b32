//! What the builds feature sees of the metadata store: builds, their nodes and how they
//! close, pins, the last green build before one; and the macro that implements it for both
//! stores.

use std::collections::HashSet;

use vitrine_wire::domain::{BuildNum, BuildStatus, NodeIndex, StatusFilter};

use super::error::{DbError, DbResult};
use super::ids::{BuildId, ProjectId};
use super::models::{Build, NewBuild, NodeFinish, Pin};

/// Builds: numbered per project, closed when their last node finishes or when they time out.
#[async_trait::async_trait]
pub trait BuildStore: Send + Sync {
    /// Creates the next build of a project, with a number no other build of it has, also
    /// when several servers start builds at once.
    async fn insert_build(&self, project_id: ProjectId, new: &NewBuild) -> DbResult<Build>;
    async fn build(&self, project_id: ProjectId, num: BuildNum) -> DbResult<Build>;
    /// The project a build belongs to.
    async fn build_project(&self, build_id: BuildId) -> DbResult<ProjectId>;
    /// Newest first; `branch` and `statuses` narrow the list when given.
    /// A project's builds, newest first: of a branch, of some statuses, numbered below
    /// `before` (a page after another, by key), from `offset` on.
    async fn builds(
        &self,
        project_id: ProjectId,
        branch: Option<&str>,
        statuses: Option<&[BuildStatus]>,
        before: Option<i64>,
        limit: i64,
        offset: i64,
    ) -> DbResult<Vec<Build>>;
    /// The newest build of a branch (or of any) whose status passes `filter`.
    async fn latest_build(&self, project_id: ProjectId, branch: Option<&str>, filter: StatusFilter) -> DbResult<Build> {
        self.builds(project_id, branch, Some(filter.statuses()), None, 1, 0)
            .await?
            .into_iter()
            .next()
            .ok_or(DbError::NotFound)
    }
    /// Records that a node finished; when it was the build's last node, closes the build with
    /// the status of all its nodes (a failure anywhere wins). One transaction, so two nodes
    /// finishing at once cannot both miss being last.
    async fn finish_node(&self, build: &Build, node: NodeIndex, status: BuildStatus) -> DbResult<NodeFinish>;
    /// The nodes of a build that finished.
    async fn finished_nodes(&self, build_id: BuildId) -> DbResult<HashSet<i64>>;
    /// Removes the own tokens of builds that are closed (they can do nothing any more).
    async fn delete_closed_build_tokens(&self) -> DbResult<u64>;
    /// Closes builds still running that started before `started_before`, as `timedout`.
    async fn time_out_builds(&self, started_before: i64) -> DbResult<u64>;
    /// The newest successful build of a branch numbered below `before`: what a build's
    /// screenshots are compared with.
    async fn last_green_before(&self, project_id: ProjectId, branch: &str, before: i64) -> DbResult<Option<Build>>;
    /// Pins a build (by `user_id`, now) or unpins it (`None`).
    async fn set_build_pinned(&self, build_id: BuildId, pinned: Option<Pin>) -> DbResult<()>;
}

/// Expands to `impl BuildStore for $store`, its queries written once for both stores.
/// `$store` has a `pool: sqlx::Pool<$db>` (`$db`: `sqlx::Sqlite` or `sqlx::Postgres`); names
/// the query needs (rows, columns, models) are those in scope where it expands.
/// `for_update` is the row-lock clause of the store (empty on SQLite, where a writing
/// transaction already excludes other writers).
macro_rules! build_store {
    ($store:ty, $db:ty, for_update = $for_update:literal) => {
        #[async_trait::async_trait]
        impl BuildStore for $store {
            /// Creates the next build of a project. The number comes from the project's counter,
            /// taken under its row's lock in the same transaction: servers starting builds at once
            /// wait for each other and never pick the same number.
            async fn insert_build(&self, project_id: ProjectId, new: &NewBuild) -> DbResult<Build> {
                let mut tx = self.begin_write().await?;
                let num: i64 = sqlx::query_scalar(
                    "UPDATE projects SET last_build_num = last_build_num + 1 WHERE id = $1 RETURNING last_build_num",
                )
                .bind(project_id)
                .fetch_one(&mut *tx)
                .await
                .map_err(DbError::from_sqlx)?;
                let row: BuildRow = sqlx::query_as(concat!(
                    "INSERT INTO builds (project_id, build_num, branch, revision, status, parallelism, start_time, agent)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                     RETURNING ",
                    build_columns!(),
                ))
                .bind(project_id)
                .bind(num)
                .bind(&new.branch)
                .bind(&new.revision)
                .bind(BuildStatus::Running.as_str())
                .bind(new.parallelism)
                .bind(now())
                .bind(&new.agent)
                .fetch_one(&mut *tx)
                .await
                .map_err(DbError::from_sqlx)?;
                tx.commit().await?;
                Ok(row.into())
            }

            async fn build(&self, project_id: ProjectId, num: BuildNum) -> DbResult<Build> {
                sqlx::query_as::<_, BuildRow>(concat!(
                    "SELECT ",
                    build_columns!(),
                    " FROM builds WHERE project_id = $1 AND build_num = $2",
                ))
                .bind(project_id)
                .bind(num.0)
                .fetch_one(&self.pool)
                .await
                .map(Build::from)
                .map_err(DbError::from_sqlx)
            }

            async fn build_project(&self, build_id: BuildId) -> DbResult<ProjectId> {
                sqlx::query_scalar("SELECT project_id FROM builds WHERE id = $1")
                    .bind(build_id)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(DbError::from_sqlx)
            }

            /// Newest first; `branch` and `statuses` narrow the list when given.
            async fn builds(
                &self,
                project_id: ProjectId,
                branch: Option<&str>,
                statuses: Option<&[BuildStatus]>,
                before: Option<i64>,
                limit: i64,
                offset: i64,
            ) -> DbResult<Vec<Build>> {
                let mut q: QueryBuilder<$db> =
                    QueryBuilder::new(concat!("SELECT ", build_columns!(), " FROM builds WHERE project_id = "));
                q.push_bind(project_id);
                if let Some(branch) = branch {
                    q.push(" AND branch = ").push_bind(branch.to_owned());
                }
                if let Some(before) = before {
                    q.push(" AND build_num < ").push_bind(before);
                }
                if let Some(statuses) = statuses {
                    q.push(" AND status IN (");
                    let mut list = q.separated(", ");
                    for s in statuses {
                        list.push_bind(s.as_str());
                    }
                    q.push(")");
                }
                q.push(" ORDER BY build_num DESC LIMIT ").push_bind(limit).push(" OFFSET ").push_bind(offset);
                let rows: Vec<BuildRow> = q.build_query_as().fetch_all(&self.pool).await?;
                Ok(rows.into_iter().map(Build::from).collect())
            }

            /// Records that a node finished; when it was the build's last node, closes the build with
            /// the status of all its nodes (a failure anywhere wins). One transaction, so two nodes
            /// finishing at once cannot both miss being last.
            async fn finish_node(&self, build: &Build, node: NodeIndex, status: BuildStatus) -> DbResult<NodeFinish> {
                let mut tx = self.begin_write().await?;
                // Nodes of one build finish one at a time (on PostgreSQL, under the build row's lock),
                // so the last one always sees every other.
                sqlx::query(concat!("SELECT id FROM builds WHERE id = $1", $for_update))
                    .bind(build.id)
                    .fetch_optional(&mut *tx)
                    .await?;
                let inserted = sqlx::query(
                    "INSERT INTO build_nodes (build_id, node_index, status, finished_at) VALUES ($1, $2, $3, $4)
                     ON CONFLICT DO NOTHING",
                )
                .bind(build.id)
                .bind(node.0)
                .bind(status.as_str())
                .bind(now())
                .execute(&mut *tx)
                .await?;
                if inserted.rows_affected() == 0 {
                    let earlier: String =
                        sqlx::query_scalar("SELECT status FROM build_nodes WHERE build_id = $1 AND node_index = $2")
                            .bind(build.id)
                            .bind(node.0)
                            .fetch_one(&mut *tx)
                            .await?;
                    return if earlier == status.as_str() {
                        Ok(NodeFinish::AlreadyFinished)
                    } else {
                        Err(DbError::Conflict)
                    };
                }
                let statuses: Vec<String> = sqlx::query_scalar("SELECT status FROM build_nodes WHERE build_id = $1")
                    .bind(build.id)
                    .fetch_all(&mut *tx)
                    .await?;
                let outcome = if statuses.len() as i64 >= build.parallelism {
                    let parsed: Vec<BuildStatus> =
                        statuses.iter().filter_map(|s| <BuildStatus as std::str::FromStr>::from_str(s).ok()).collect();
                    let overall = if parsed.contains(&BuildStatus::Failed) {
                        BuildStatus::Failed
                    } else {
                        parsed.into_iter().find(|s| *s != BuildStatus::Success).unwrap_or(BuildStatus::Success)
                    };
                    sqlx::query("UPDATE builds SET status = $1, stop_time = $2 WHERE id = $3 AND status = $4")
                        .bind(overall.as_str())
                        .bind(now())
                        .bind(build.id)
                        .bind(BuildStatus::Running.as_str())
                        .execute(&mut *tx)
                        .await?;
                    NodeFinish::Closed(overall)
                } else {
                    NodeFinish::Recorded
                };
                tx.commit().await?;
                Ok(outcome)
            }

            /// The nodes of a build that finished.
            async fn finished_nodes(&self, build_id: BuildId) -> DbResult<HashSet<i64>> {
                let nodes: Vec<i64> = sqlx::query_scalar("SELECT node_index FROM build_nodes WHERE build_id = $1")
                    .bind(build_id)
                    .fetch_all(&self.pool)
                    .await?;
                Ok(nodes.into_iter().collect())
            }

            /// Removes the own tokens of builds that are closed (they can do nothing any more).
            async fn delete_closed_build_tokens(&self) -> DbResult<u64> {
                let done =
                    sqlx::query("DELETE FROM tokens WHERE build_id IN (SELECT id FROM builds WHERE status <> $1)")
                        .bind(BuildStatus::Running.as_str())
                        .execute(&self.pool)
                        .await?;
                Ok(done.rows_affected())
            }

            /// Closes builds still running that started before `started_before`, as `timedout`.
            async fn time_out_builds(&self, started_before: i64) -> DbResult<u64> {
                let done =
                    sqlx::query("UPDATE builds SET status = $1, stop_time = $2 WHERE status = $3 AND start_time < $4")
                        .bind(BuildStatus::Timedout.as_str())
                        .bind(now())
                        .bind(BuildStatus::Running.as_str())
                        .bind(started_before)
                        .execute(&self.pool)
                        .await?;
                Ok(done.rows_affected())
            }

            async fn last_green_before(
                &self,
                project_id: ProjectId,
                branch: &str,
                before: i64,
            ) -> DbResult<Option<Build>> {
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

            async fn set_build_pinned(&self, build_id: BuildId, pinned: Option<Pin>) -> DbResult<()> {
                let (by, at) = match pinned {
                    Some(Pin { by, at }) => (by, Some(at)),
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
        }
    };
}

pub(super) use build_store;
