//! What the artifacts feature sees of the metadata store: a build's listed artifacts (pages,
//! folders, kinds, search) and the stored objects they point at; and the macro that
//! implements it for both stores.

use super::error::DbResult;
use super::ids::BuildId;
use super::models::{Artifact, ArtifactKind, NodeCount};
use vitrine_wire::domain::NodeIndex;

/// Listed artifacts and the objects behind them: reading listings, purging them, and the
/// objects purges doomed.
#[async_trait::async_trait]
pub trait ArtifactStore: Send + Sync {
    async fn artifacts(&self, build_id: BuildId) -> DbResult<Vec<Artifact>>;
    /// A page of artifacts after `(node, path)` in listing order, for keyset paging (API v2).
    async fn artifacts_page(
        &self,
        build_id: BuildId,
        after: Option<(i64, &str)>,
        limit: i64,
    ) -> DbResult<Vec<Artifact>>;
    /// How many artifacts each container of a build holds, by node index.
    async fn artifact_counts(&self, build_id: BuildId) -> DbResult<Vec<NodeCount>>;
    /// Artifacts of one container whose path is from `from` up to before `before` (byte
    /// order, the listing's), in order: a range of the unique index, for browsing folders.
    async fn artifacts_between(
        &self,
        build_id: BuildId,
        node: i64,
        from: &str,
        before: &str,
        limit: i64,
    ) -> DbResult<Vec<Artifact>>;
    /// How many artifacts of one container have a path from `from` up to before `before`.
    async fn count_between(&self, build_id: BuildId, node: i64, from: &str, before: &str) -> DbResult<i64>;
    /// Artifacts of a build of one kind, after `(node, path)`, in listing order: the
    /// gallery's pages, the build's HTML pages.
    async fn artifacts_of_kind(
        &self,
        build_id: BuildId,
        kind: ArtifactKind,
        after: Option<(i64, &str)>,
        limit: i64,
    ) -> DbResult<Vec<Artifact>>;
    async fn artifact(&self, build_id: BuildId, node: NodeIndex, pretty_path: &str) -> DbResult<Artifact>;
    /// Artifacts of a build whose path contains `needle` (any case), in listing order, from an
    /// index (a trigram index on both stores): the viewer's filter.
    async fn search_artifacts(&self, build_id: BuildId, needle: &str, limit: i64) -> DbResult<Vec<Artifact>>;
    /// How many listed artifacts point at the stored objects with this content.
    async fn blob_refs(&self, sha256: &str) -> DbResult<i64>;
}

/// Expands to `impl ArtifactStore for $store`, its queries written once for both stores.
/// `$store` has a `pool: sqlx::Pool<$db>` (`$db`: `sqlx::Sqlite` or `sqlx::Postgres`); names
/// the query needs (rows, columns, models) are those in scope where it expands.
/// `extra` holds the methods each store writes in its own SQL (`search_artifacts`).
macro_rules! artifact_store {
    ($store:ty, $db:ty, { $($extra:tt)* }) => {
        #[async_trait::async_trait]
        impl ArtifactStore for $store {
            $($extra)*

            async fn artifacts(&self, build_id: BuildId) -> DbResult<Vec<Artifact>> {
                let rows: Vec<ArtifactRow> = sqlx::query_as(
                    concat!("SELECT ", artifact_columns!(), "
                     FROM artifacts a
                     WHERE a.build_id = $1 ORDER BY a.node_index, a.pretty_path"),
                )
                .bind(build_id)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(Artifact::from).collect())
            }

            /// A page of artifacts after `(node, path)` in listing order, for keyset paging (API v2).
            async fn artifacts_page(
                &self,
                build_id: BuildId,
                after: Option<(i64, &str)>,
                limit: i64,
            ) -> DbResult<Vec<Artifact>> {
                let (node, path) = after.unwrap_or((-1, ""));
                let rows: Vec<ArtifactRow> = sqlx::query_as(
                    concat!("SELECT ", artifact_columns!(), "
                     FROM artifacts a
                     WHERE a.build_id = $1 AND (a.node_index > $2 OR (a.node_index = $2 AND a.pretty_path > $3))
                     ORDER BY a.node_index, a.pretty_path LIMIT $4"),
                )
                .bind(build_id)
                .bind(node)
                .bind(path)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(Artifact::from).collect())
            }

            async fn artifact_counts(&self, build_id: BuildId) -> DbResult<Vec<NodeCount>> {
                let rows: Vec<(i64, i64)> = sqlx::query_as(
                    "SELECT node_index, COUNT(*) FROM artifacts WHERE build_id = $1 GROUP BY node_index ORDER BY node_index",
                )
                .bind(build_id)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(|(node_index, count)| NodeCount { node_index, count }).collect())
            }

            async fn artifacts_between(
                &self,
                build_id: BuildId,
                node: i64,
                from: &str,
                before: &str,
                limit: i64,
            ) -> DbResult<Vec<Artifact>> {
                let rows: Vec<ArtifactRow> = sqlx::query_as(concat!(
                    "SELECT ",
                    artifact_columns!(),
                    " FROM artifacts a WHERE a.build_id = $1 AND a.node_index = $2 AND a.pretty_path >= $3 AND a.pretty_path < $4
                     ORDER BY a.pretty_path LIMIT $5"
                ))
                .bind(build_id)
                .bind(node)
                .bind(from)
                .bind(before)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(Artifact::from).collect())
            }

            async fn count_between(&self, build_id: BuildId, node: i64, from: &str, before: &str) -> DbResult<i64> {
                Ok(sqlx::query_scalar(
                    "SELECT COUNT(*) FROM artifacts WHERE build_id = $1 AND node_index = $2 AND pretty_path >= $3 AND pretty_path < $4",
                )
                .bind(build_id)
                .bind(node)
                .bind(from)
                .bind(before)
                .fetch_one(&self.pool)
                .await?)
            }

            async fn artifacts_of_kind(
                &self,
                build_id: BuildId,
                kind: ArtifactKind,
                after: Option<(i64, &str)>,
                limit: i64,
            ) -> DbResult<Vec<Artifact>> {
                let (node, path) = after.unwrap_or((-1, ""));
                // Each kind's condition as its partial index states it: a store uses a partial
                // index only for a query that states the index's own condition.
                let sql = match kind {
                    ArtifactKind::Image => artifacts_of_kind!("a.content_type LIKE 'image/%'"),
                    ArtifactKind::Page => artifacts_of_kind!("a.content_type LIKE 'text/html%'"),
                };
                let rows: Vec<ArtifactRow> = sqlx::query_as(sql)
                .bind(build_id)
                .bind(node)
                .bind(path)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(Artifact::from).collect())
            }

            async fn artifact(&self, build_id: BuildId, node: NodeIndex, pretty_path: &str) -> DbResult<Artifact> {
                sqlx::query_as::<_, ArtifactRow>(
                    concat!("SELECT ", artifact_columns!(), "
                     FROM artifacts a
                     WHERE a.build_id = $1 AND a.node_index = $2 AND a.pretty_path = $3"),
                )
                .bind(build_id)
                .bind(node.0)
                .bind(pretty_path)
                .fetch_one(&self.pool)
                .await
                .map(Artifact::from)
                .map_err(DbError::from_sqlx)
            }

            /// How many listed artifacts point at the stored objects with this content.
            async fn blob_refs(&self, sha256: &str) -> DbResult<i64> {
                Ok(sqlx::query_scalar("SELECT CAST(COALESCE(SUM(refs), 0) AS BIGINT) FROM blobs WHERE sha256 = $1")
                    .bind(sha256)
                    .fetch_one(&self.pool)
                    .await?)
            }
        }
    };
}

pub(super) use artifact_store;

/// A page of a build's artifacts of one kind, `$condition` (the kind's partial index's own
/// condition) written into the query.
macro_rules! artifacts_of_kind {
    ($condition:literal) => {
        concat!(
            "SELECT ",
            artifact_columns!(),
            " FROM artifacts a WHERE a.build_id = $1 AND ",
            $condition,
            " AND (a.node_index > $2 OR (a.node_index = $2 AND a.pretty_path > $3))
             ORDER BY a.node_index, a.pretty_path LIMIT $4"
        )
    };
}

pub(super) use artifacts_of_kind;

#[cfg(test)]
mod tests {
    use crate::columns::artifact_columns;
    use crate::sqlite::SqliteStore;

    /// The build page's picks of images and HTML pages go through their partial indexes
    /// (SQLite uses one only when the query states its condition as the index does).
    #[tokio::test]
    async fn a_build_s_images_and_pages_are_found_by_their_own_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open_in(dir.path()).await.unwrap();
        for (sql, index) in [
            (artifacts_of_kind!("a.content_type LIKE 'image/%'"), "artifacts_images"),
            (artifacts_of_kind!("a.content_type LIKE 'text/html%'"), "artifacts_pages"),
        ] {
            let plan: Vec<(i64, i64, i64, String)> = sqlx::query_as(&format!("EXPLAIN QUERY PLAN {sql}"))
                .bind(1)
                .bind(-1)
                .bind("")
                .bind(500)
                .fetch_all(&store.pool)
                .await
                .unwrap();
            let steps: Vec<&str> = plan.iter().map(|(_, _, _, step)| step.as_str()).collect();
            let searched = format!("SEARCH a USING INDEX {index} (build_id=?");
            assert!(steps.len() == 1 && steps[0].starts_with(&searched), "{steps:?} for {sql}");
        }
    }
}
