//! What the uploads feature sees of the metadata store: planning (what a project already
//! keeps, what a build already lists), recording plans and verified uploads, and the uploads
//! the sweeper removes; and the macro that implements it for both stores.

use std::collections::{HashMap, HashSet};

use vitrine_wire::domain::NodeIndex;

use super::error::DbResult;
use super::ids::{BuildId, ProjectId};
use super::models::{Receipt, ToList, Upload, Verified};

/// Uploads and the blobs they become: plans, pending uploads, verification.
#[async_trait::async_trait]
pub trait UploadStore: Send + Sync {
    /// Verified objects of this project with the given contents, by `(sha256, size)`. Only
    /// the project's own: what a plan answers never depends on another project's content.
    async fn project_blobs(
        &self,
        project_id: ProjectId,
        contents: &[(&str, i64)],
    ) -> DbResult<HashMap<(String, i64), String>>;
    /// Which of `sizes` a verified object of this project has (for files declared without a
    /// SHA-256: only a size the project keeps can be content it keeps).
    async fn project_blob_sizes(&self, project_id: ProjectId, sizes: &[i64]) -> DbResult<HashSet<i64>>;
    /// The content (`sha256`, `size`) of the given paths already listed for a node.
    async fn listed_contents(
        &self,
        build_id: BuildId,
        node: NodeIndex,
        paths: &[&str],
    ) -> DbResult<HashMap<String, (String, i64)>>;
    /// Listed artifacts plus uploads still pending in a build: what counts against its limit.
    async fn build_entry_count(&self, build_id: BuildId) -> DbResult<i64>;
    /// Records a plan in one transaction: content the project already keeps is listed at
    /// once, the rest becomes pending uploads. A few statements per batch, not per file.
    async fn record_plan(&self, build_id: BuildId, reused: &[ToList], uploads: &[Upload]) -> DbResult<()>;
    /// Records verified uploads in one transaction: each object becomes a blob of the project,
    /// its artifact is listed (replacing one at the same path), the upload is marked verified.
    async fn record_verified(&self, verified: &[Verified], project_id: ProjectId) -> DbResult<()>;
    /// The uploads of a build with these ids, by id (unknown ids are left out).
    async fn uploads(&self, build_id: BuildId, ids: &[&str]) -> DbResult<HashMap<String, Upload>>;
    async fn delete_upload(&self, id: &str) -> DbResult<()>;
    /// Pending uploads whose URLs expired before `before`: never completed, to be removed.
    async fn abandoned_uploads(&self, before: i64, limit: i64) -> DbResult<Vec<Upload>>;
    /// Receipts of verified uploads whose URLs expired before `before` (they served retried
    /// confirmations): the upload id, its upload key, and the key its bytes are kept under.
    async fn expired_receipts(&self, before: i64, limit: i64) -> DbResult<Vec<Receipt>>;
    /// How many rows the upload bookkeeping holds (for tests and metrics).
    async fn pending_upload_count(&self) -> DbResult<i64>;
}

/// Expands to `impl UploadStore for $store`, its queries written once for both stores.
/// `$store` has a `pool: sqlx::Pool<$db>` (`$db`: `sqlx::Sqlite` or `sqlx::Postgres`); names
/// the query needs (rows, columns, models) are those in scope where it expands.
macro_rules! upload_store {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl UploadStore for $store {
            /// Verified objects of this project with the given contents, by `(sha256, size)`. Only
            /// the project's own: what a plan answers never depends on another project's content.
            async fn project_blobs(
                &self,
                project_id: ProjectId,
                contents: &[(&str, i64)],
            ) -> DbResult<HashMap<(String, i64), String>> {
                let mut found = HashMap::new();
                for chunk in contents.chunks(500) {
                    let mut q: QueryBuilder<$db> =
                        QueryBuilder::new("SELECT sha256, s3_key, size FROM blobs WHERE project_id = ");
                    q.push_bind(project_id).push(" AND sha256 IN (");
                    let mut list = q.separated(", ");
                    for (sha256, _) in chunk {
                        list.push_bind(*sha256);
                    }
                    q.push(")");
                    let blobs: Vec<BlobRow> = q.build_query_as().fetch_all(&self.pool).await?;
                    for blob in blobs {
                        found.entry((blob.sha256, blob.size)).or_insert(blob.s3_key);
                    }
                }
                Ok(found)
            }

            /// Which of `sizes` a verified object of this project has (for files declared without a
            /// SHA-256: only a size the project keeps can be content it keeps).
            async fn project_blob_sizes(&self, project_id: ProjectId, sizes: &[i64]) -> DbResult<HashSet<i64>> {
                let mut found = HashSet::new();
                for chunk in sizes.chunks(500) {
                    let mut q: QueryBuilder<$db> = QueryBuilder::new("SELECT DISTINCT size FROM blobs WHERE project_id = ");
                    q.push_bind(project_id).push(" AND size IN (");
                    let mut list = q.separated(", ");
                    for size in chunk {
                        list.push_bind(*size);
                    }
                    q.push(")");
                    let rows: Vec<(i64,)> = q.build_query_as().fetch_all(&self.pool).await?;
                    found.extend(rows.into_iter().map(|(size,)| size));
                }
                Ok(found)
            }

            /// The content (`sha256`, `size`) of the given paths already listed for a node.
            async fn listed_contents(
                &self,
                build_id: BuildId,
                node: NodeIndex,
                paths: &[&str],
            ) -> DbResult<HashMap<String, (String, i64)>> {
                let mut found = HashMap::new();
                for chunk in paths.chunks(500) {
                    let mut q: QueryBuilder<$db> =
                        QueryBuilder::new("SELECT pretty_path, sha256, size FROM artifacts WHERE build_id = ");
                    q.push_bind(build_id).push(" AND node_index = ").push_bind(node.0).push(" AND pretty_path IN (");
                    let mut list = q.separated(", ");
                    for path in chunk {
                        list.push_bind(*path);
                    }
                    q.push(")");
                    let rows: Vec<(String, String, i64)> = q.build_query_as().fetch_all(&self.pool).await?;
                    found.extend(rows.into_iter().map(|(path, sha256, size)| (path, (sha256, size))));
                }
                Ok(found)
            }

            /// Listed artifacts plus uploads still pending in a build: what counts against its limit.
            async fn build_entry_count(&self, build_id: BuildId) -> DbResult<i64> {
                Ok(sqlx::query_scalar(
                    "SELECT (SELECT COUNT(*) FROM artifacts WHERE build_id = $1)
                          + (SELECT COUNT(*) FROM uploads WHERE build_id = $1 AND verified_at IS NULL AND expires_at > $2)",
                )
                .bind(build_id)
                .bind(now())
                .fetch_one(&self.pool)
                .await?)
            }

            /// Records a plan in one transaction: content the project already keeps is listed at
            /// once, the rest becomes pending uploads. A few statements per batch, not per file.
            async fn record_plan(
                &self,
                build_id: BuildId,
                reused: &[ToList],
                uploads: &[Upload],
            ) -> DbResult<()> {
                let mut tx = self.begin_write().await?;
                let listed: Vec<&ToList> = reused.iter().collect();
                Self::upsert_artifacts(&mut tx, build_id, &listed).await?;
                let created_at = now();
                for chunk in uploads.chunks(ROWS_PER_STATEMENT) {
                    let mut q: QueryBuilder<$db> = QueryBuilder::new(
                        "INSERT INTO uploads (id, build_id, node_index, path, pretty_path, size, sha256, content_type,
                                              s3_key, multipart_id, part_sha256, expires_at, created_at) ",
                    );
                    q.push_values(chunk, |mut row, u| {
                        row.push_bind(&u.id)
                            .push_bind(u.build_id)
                            .push_bind(u.artifact.node_index)
                            .push_bind(&u.artifact.path)
                            .push_bind(&u.artifact.pretty_path)
                            .push_bind(u.artifact.size)
                            // Empty: to be hashed while sent (as the column was before this type).
                            .push_bind(u.artifact.sha256.as_ref().map_or("", vitrine_wire::domain::Sha256::as_str))
                            .push_bind(&u.artifact.content_type)
                            .push_bind(&u.s3_key)
                            .push_bind(&u.multipart_id)
                            .push_bind(u.part_sha256.join(","))
                            .push_bind(u.expires_at)
                            .push_bind(created_at);
                    });
                    q.build().execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            /// Records verified uploads in one transaction: each object becomes a blob of the project,
            /// its artifact is listed (replacing one at the same path), the upload is marked verified.
            async fn record_verified(&self, verified: &[Verified], project_id: ProjectId) -> DbResult<()> {
                if verified.is_empty() {
                    return Ok(());
                }
                let mut tx = self.begin_write().await?;
                let at = now();
                for chunk in verified.chunks(ROWS_PER_STATEMENT) {
                    let mut q: QueryBuilder<$db> =
                        QueryBuilder::new("INSERT INTO blobs (s3_key, sha256, size, project_id, created_at) ");
                    q.push_values(chunk, |mut row, v| {
                        row.push_bind(&v.listed.s3_key)
                            .push_bind(v.listed.sha256.as_str())
                            .push_bind(v.listed.artifact.size)
                            .push_bind(project_id)
                            .push_bind(at);
                    });
                    q.push(" ON CONFLICT DO NOTHING");
                    q.build().execute(&mut *tx).await?;
                }
                let mut by_build: HashMap<BuildId, Vec<&ToList>> = HashMap::new();
                for v in verified {
                    by_build.entry(v.build_id).or_default().push(&v.listed);
                }
                for (build_id, listed) in by_build {
                    Self::upsert_artifacts(&mut tx, build_id, &listed).await?;
                }
                for chunk in verified.chunks(ROWS_PER_STATEMENT) {
                    let mut q: QueryBuilder<$db> = QueryBuilder::new("UPDATE uploads SET verified_at = ");
                    q.push_bind(at).push(", blob_key = CASE id");
                    for v in chunk {
                        q.push(" WHEN ").push_bind(&v.upload_id).push(" THEN ").push_bind(&v.listed.s3_key);
                    }
                    q.push(" END WHERE id IN (");
                    let mut ids = q.separated(", ");
                    for v in chunk {
                        ids.push_bind(&v.upload_id);
                    }
                    q.push(")");
                    q.build().execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            /// The uploads of a build with these ids, by id (unknown ids are left out).
            async fn uploads(&self, build_id: BuildId, ids: &[&str]) -> DbResult<HashMap<String, Upload>> {
                let mut found = HashMap::with_capacity(ids.len());
                for chunk in ids.chunks(500) {
                    let mut q: QueryBuilder<$db> = QueryBuilder::new(UPLOAD_COLUMNS);
                    q.push(" WHERE build_id = ").push_bind(build_id).push(" AND id IN (");
                    let mut list = q.separated(", ");
                    for id in chunk {
                        list.push_bind(*id);
                    }
                    q.push(")");
                    let rows: Vec<UploadRow> = q.build_query_as().fetch_all(&self.pool).await?;
                    found.extend(rows.into_iter().map(|r| {
                        let u = Upload::from(r);
                        (u.id.clone(), u)
                    }));
                }
                Ok(found)
            }

            async fn delete_upload(&self, id: &str) -> DbResult<()> {
                sqlx::query("DELETE FROM uploads WHERE id = $1").bind(id).execute(&self.pool).await?;
                Ok(())
            }

            /// Pending uploads whose URLs expired before `before`: never completed, to be removed.
            async fn abandoned_uploads(&self, before: i64, limit: i64) -> DbResult<Vec<Upload>> {
                let rows: Vec<UploadRow> = sqlx::query_as(&format!(
                    "{UPLOAD_COLUMNS} WHERE verified_at IS NULL AND expires_at < $1 ORDER BY expires_at LIMIT $2"
                ))
                .bind(before)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(Upload::from).collect())
            }

            /// Receipts of verified uploads whose URLs expired before `before` (they served retried
            /// confirmations): the upload id, its upload key, and the key its bytes are kept under.
            async fn expired_receipts(&self, before: i64, limit: i64) -> DbResult<Vec<Receipt>> {
                let rows: Vec<(String, String, String)> = sqlx::query_as(
                    "SELECT id, s3_key, COALESCE(blob_key, s3_key) FROM uploads
                     WHERE verified_at IS NOT NULL AND expires_at < $1 ORDER BY expires_at LIMIT $2",
                )
                .bind(before)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|(upload_id, upload_key, kept_key)| Receipt { upload_id, upload_key, kept_key })
                    .collect())
            }

            /// How many rows the upload bookkeeping holds (for tests and metrics).
            async fn pending_upload_count(&self) -> DbResult<i64> {
                Ok(sqlx::query_scalar("SELECT COUNT(*) FROM uploads WHERE verified_at IS NULL").fetch_one(&self.pool).await?)
            }
        }

        impl $store {
            /// Lists artifacts whose objects are verified; the same path stored again replaces it (the
            /// later of two in one call wins). Triggers keep each blob's count of artifacts pointing at it.
            async fn upsert_artifacts(
                conn: &mut <$db as sqlx::Database>::Connection,
                build_id: BuildId,
                rows: &[&ToList],
            ) -> DbResult<()> {
                let mut seen = HashSet::new();
                let mut unique: Vec<&ToList> = rows
                    .iter()
                    .rev()
                    .copied()
                    .filter(|l| seen.insert((l.artifact.node_index, l.artifact.pretty_path.as_str())))
                    .collect();
                unique.reverse();
                let at = now();
                for chunk in unique.chunks(ROWS_PER_STATEMENT) {
                    let mut q: QueryBuilder<$db> = QueryBuilder::new(
                        "INSERT INTO artifacts (build_id, node_index, path, pretty_path, size, sha256, content_type, s3_key, created_at) ",
                    );
                    q.push_values(chunk, |mut row, ToList { artifact: a, sha256, s3_key }| {
                        row.push_bind(build_id)
                            .push_bind(a.node_index)
                            .push_bind(&a.path)
                            .push_bind(&a.pretty_path)
                            .push_bind(a.size)
                            .push_bind(sha256.as_str())
                            .push_bind(&a.content_type)
                            .push_bind(s3_key)
                            .push_bind(at);
                    });
                    q.push(
                        " ON CONFLICT (build_id, node_index, pretty_path) DO UPDATE SET
                             path = excluded.path, size = excluded.size, sha256 = excluded.sha256,
                             content_type = excluded.content_type, s3_key = excluded.s3_key, created_at = excluded.created_at",
                    );
                    q.build().execute(&mut *conn).await?;
                }
                Ok(())
            }
        }
    };
}

pub(super) use upload_store;
