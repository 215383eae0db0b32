//! Metadata store: users, tokens, projects, builds, blobs and artifacts, in SQLite via sqlx.
//!
//! Queries are plain SQL kept portable to PostgreSQL (no SQLite-only functions); every
//! query lives in this module so a second backend has one place to follow.

mod models;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Sqlite, SqlitePool};

pub use models::*;

use crate::domain::{BuildNum, BuildStatus, NodeIndex, ProjectSlug, StatusFilter};

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("not found")]
    NotFound,
    #[error("already exists")]
    Conflict,
    #[error(transparent)]
    Other(#[from] sqlx::Error),
}

impl DbError {
    fn from_sqlx(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::RowNotFound => DbError::NotFound,
            sqlx::Error::Database(d) if d.is_unique_violation() => DbError::Conflict,
            e => DbError::Other(e),
        }
    }
}

pub type DbResult<T> = Result<T, DbError>;

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[derive(Clone, Debug)]
pub struct Db {
    pool: SqlitePool,
}

impl Db {
    /// Opens (creating if needed) `vitrine.db` in `data_dir` and applies migrations.
    pub async fn open_in(data_dir: &Path) -> anyhow::Result<Db> {
        let options = SqliteConnectOptions::new()
            .filename(data_dir.join("vitrine.db"))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        Self::connect(options).await
    }

    /// The store `DATABASE_URL` names, or SQLite in the data dir when it is unset.
    pub async fn open(data_dir: &Path, database_url: Option<&str>) -> anyhow::Result<Db> {
        match database_url {
            None | Some("") => Db::open_in(data_dir).await,
            Some(url) if url.starts_with("sqlite:") => Db::open_url(url).await,
            Some(url) if url.starts_with("postgres") => anyhow::bail!(
                "DATABASE_URL names PostgreSQL, which this build of Vitrine does not support yet; unset it to use SQLite in the data dir"
            ),
            Some(_) => anyhow::bail!("DATABASE_URL must start with sqlite: (PostgreSQL is not supported yet)"),
        }
    }

    pub async fn open_url(url: &str) -> anyhow::Result<Db> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        Self::connect(options).await
    }

    async fn connect(options: SqliteConnectOptions) -> anyhow::Result<Db> {
        let pool = SqlitePoolOptions::new().max_connections(8).connect_with(options).await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        Ok(Db { pool })
    }

    // ---- users, sessions, tokens -------------------------------------------------------

    pub async fn insert_user(&self, username: &str, password_hash: &str) -> DbResult<i64> {
        sqlx::query_scalar("INSERT INTO users (username, password_hash, created_at) VALUES (?, ?, ?) RETURNING id")
            .bind(username)
            .bind(password_hash)
            .bind(now())
            .fetch_one(&self.pool)
            .await
            .map_err(DbError::from_sqlx)
    }

    pub async fn user_by_name(&self, username: &str) -> DbResult<User> {
        sqlx::query_as("SELECT id, username, password_hash FROM users WHERE username = ?")
            .bind(username)
            .fetch_one(&self.pool)
            .await
            .map_err(DbError::from_sqlx)
    }

    pub async fn user_by_id(&self, id: i64) -> DbResult<User> {
        sqlx::query_as("SELECT id, username, password_hash FROM users WHERE id = ?")
            .bind(id)
            .fetch_one(&self.pool)
            .await
            .map_err(DbError::from_sqlx)
    }

    pub async fn insert_token(&self, token_hash: &str, owner: TokenOwner) -> DbResult<()> {
        let (user_id, project_id, build_id) = match owner {
            TokenOwner::User(id) => (Some(id), None, None),
            TokenOwner::Project(id) => (None, Some(id), None),
            TokenOwner::Build { project_id, build_id } => (None, Some(project_id), Some(build_id)),
        };
        sqlx::query(
            "INSERT INTO tokens (token_hash, user_id, project_id, build_id, created_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(project_id)
        .bind(build_id)
        .bind(now())
        .execute(&self.pool)
        .await
        .map_err(DbError::from_sqlx)?;
        Ok(())
    }

    pub async fn token_owner(&self, token_hash: &str) -> DbResult<TokenOwner> {
        let row: TokenRow = sqlx::query_as("SELECT user_id, project_id, build_id FROM tokens WHERE token_hash = ?")
            .bind(token_hash)
            .fetch_one(&self.pool)
            .await
            .map_err(DbError::from_sqlx)?;
        row.owner().ok_or(DbError::NotFound)
    }

    pub async fn delete_token(&self, token_hash: &str) -> DbResult<()> {
        let done = sqlx::query("DELETE FROM tokens WHERE token_hash = ?").bind(token_hash).execute(&self.pool).await?;
        if done.rows_affected() == 0 { Err(DbError::NotFound) } else { Ok(()) }
    }

    pub async fn insert_session(&self, token_hash: &str, user_id: i64, expires_at: i64) -> DbResult<()> {
        sqlx::query("INSERT INTO sessions (token_hash, user_id, expires_at) VALUES (?, ?, ?)")
            .bind(token_hash)
            .bind(user_id)
            .bind(expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn session_user(&self, token_hash: &str) -> DbResult<i64> {
        sqlx::query_scalar("SELECT user_id FROM sessions WHERE token_hash = ? AND expires_at > ?")
            .bind(token_hash)
            .bind(now())
            .fetch_one(&self.pool)
            .await
            .map_err(DbError::from_sqlx)
    }

    pub async fn delete_session(&self, token_hash: &str) -> DbResult<()> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = ? OR expires_at <= ?")
            .bind(token_hash)
            .bind(now())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    // ---- projects -----------------------------------------------------------------------

    pub async fn insert_project(&self, slug: &ProjectSlug, public: bool) -> DbResult<i64> {
        sqlx::query_scalar(
            "INSERT INTO projects (vcs_type, org, repo, public, created_at) VALUES (?, ?, ?, ?, ?) RETURNING id",
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

    pub async fn set_project_public(&self, project_id: i64, public: bool) -> DbResult<()> {
        sqlx::query("UPDATE projects SET public = ? WHERE id = ?")
            .bind(public)
            .bind(project_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn project_by_slug(&self, slug: &ProjectSlug) -> DbResult<Project> {
        sqlx::query_as(
            "SELECT id, vcs_type, org, repo, public FROM projects WHERE vcs_type = ? AND org = ? AND repo = ?",
        )
        .bind(slug.vcs.as_str())
        .bind(&slug.org)
        .bind(&slug.repo)
        .fetch_one(&self.pool)
        .await
        .map_err(DbError::from_sqlx)
    }

    pub async fn project_by_id(&self, id: i64) -> DbResult<Project> {
        sqlx::query_as("SELECT id, vcs_type, org, repo, public FROM projects WHERE id = ?")
            .bind(id)
            .fetch_one(&self.pool)
            .await
            .map_err(DbError::from_sqlx)
    }

    /// Projects a viewer may see: public ones, and those the user is a member of.
    pub async fn visible_projects(&self, user_id: Option<i64>) -> DbResult<Vec<Project>> {
        Ok(sqlx::query_as(
            "SELECT id, vcs_type, org, repo, public FROM projects p
             WHERE public = 1 OR EXISTS (
                 SELECT 1 FROM project_members m WHERE m.project_id = p.id AND m.user_id = ?)
             ORDER BY org, repo, vcs_type",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn insert_member(&self, project_id: i64, user_id: i64) -> DbResult<()> {
        sqlx::query("INSERT INTO project_members (project_id, user_id) VALUES (?, ?) ON CONFLICT DO NOTHING")
            .bind(project_id)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn is_member(&self, project_id: i64, user_id: i64) -> DbResult<bool> {
        let found: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM project_members WHERE project_id = ? AND user_id = ?")
                .bind(project_id)
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(found.is_some())
    }

    // ---- builds -------------------------------------------------------------------------

    /// Creates the next build of a project; the number is allocated inside the insert so
    /// concurrent agents never get the same one.
    pub async fn insert_build(&self, project_id: i64, new: &NewBuild) -> DbResult<Build> {
        let mut attempt = 0;
        loop {
            let result = sqlx::query_as(
                "INSERT INTO builds (project_id, build_num, branch, revision, status, parallelism, start_time)
                 VALUES (?, (SELECT COALESCE(MAX(build_num), 0) + 1 FROM builds WHERE project_id = ?), ?, ?, ?, ?, ?)
                 RETURNING id, project_id, build_num, branch, revision, status, parallelism, start_time, stop_time",
            )
            .bind(project_id)
            .bind(project_id)
            .bind(&new.branch)
            .bind(&new.revision)
            .bind(BuildStatus::Running.as_str())
            .bind(new.parallelism)
            .bind(now())
            .fetch_one(&self.pool)
            .await
            .map_err(DbError::from_sqlx);
            match result {
                Err(DbError::Conflict) if attempt < 5 => attempt += 1,
                other => return other,
            }
        }
    }

    pub async fn build(&self, project_id: i64, num: BuildNum) -> DbResult<Build> {
        sqlx::query_as(
            "SELECT id, project_id, build_num, branch, revision, status, parallelism, start_time, stop_time
             FROM builds WHERE project_id = ? AND build_num = ?",
        )
        .bind(project_id)
        .bind(num.0)
        .fetch_one(&self.pool)
        .await
        .map_err(DbError::from_sqlx)
    }

    /// Newest first; `branch` and `statuses` narrow the list when given.
    pub async fn builds(
        &self,
        project_id: i64,
        branch: Option<&str>,
        statuses: Option<&[BuildStatus]>,
        limit: i64,
        offset: i64,
    ) -> DbResult<Vec<Build>> {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
            "SELECT id, project_id, build_num, branch, revision, status, parallelism, start_time, stop_time
             FROM builds WHERE project_id = ",
        );
        q.push_bind(project_id);
        if let Some(branch) = branch {
            q.push(" AND branch = ").push_bind(branch.to_owned());
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
        Ok(q.build_query_as().fetch_all(&self.pool).await?)
    }

    pub async fn latest_build(&self, project_id: i64, branch: Option<&str>, filter: StatusFilter) -> DbResult<Build> {
        self.builds(project_id, branch, Some(filter.statuses()), 1, 0)
            .await?
            .into_iter()
            .next()
            .ok_or(DbError::NotFound)
    }

    /// Records that a node finished; when it was the build's last node, closes the build with
    /// the status of all its nodes (a failure anywhere wins). One transaction, so two nodes
    /// finishing at once cannot both miss being last.
    pub async fn finish_node(&self, build: &Build, node: NodeIndex, status: BuildStatus) -> DbResult<NodeFinish> {
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO build_nodes (build_id, node_index, status, finished_at) VALUES (?, ?, ?, ?)
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
                sqlx::query_scalar("SELECT status FROM build_nodes WHERE build_id = ? AND node_index = ?")
                    .bind(build.id)
                    .bind(node.0)
                    .fetch_one(&mut *tx)
                    .await?;
            return if earlier == status.as_str() { Ok(NodeFinish::AlreadyFinished) } else { Err(DbError::Conflict) };
        }
        let statuses: Vec<String> = sqlx::query_scalar("SELECT status FROM build_nodes WHERE build_id = ?")
            .bind(build.id)
            .fetch_all(&mut *tx)
            .await?;
        let outcome = if statuses.len() as i64 >= build.parallelism {
            let parsed: Vec<BuildStatus> = statuses.iter().filter_map(|s| BuildStatus::from_str(s).ok()).collect();
            let overall = if parsed.contains(&BuildStatus::Failed) {
                BuildStatus::Failed
            } else {
                parsed.into_iter().find(|s| *s != BuildStatus::Success).unwrap_or(BuildStatus::Success)
            };
            sqlx::query("UPDATE builds SET status = ?, stop_time = ? WHERE id = ? AND status = ?")
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
    pub async fn finished_nodes(&self, build_id: i64) -> DbResult<HashSet<i64>> {
        let nodes: Vec<i64> = sqlx::query_scalar("SELECT node_index FROM build_nodes WHERE build_id = ?")
            .bind(build_id)
            .fetch_all(&self.pool)
            .await?;
        Ok(nodes.into_iter().collect())
    }

    /// Removes the own tokens of builds that are closed (they can do nothing any more).
    pub async fn delete_closed_build_tokens(&self) -> DbResult<u64> {
        let done = sqlx::query("DELETE FROM tokens WHERE build_id IN (SELECT id FROM builds WHERE status <> ?)")
            .bind(BuildStatus::Running.as_str())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// Closes builds still running that started before `started_before`, as `timedout`.
    pub async fn time_out_builds(&self, started_before: i64) -> DbResult<u64> {
        let done = sqlx::query("UPDATE builds SET status = ?, stop_time = ? WHERE status = ? AND start_time < ?")
            .bind(BuildStatus::Timedout.as_str())
            .bind(now())
            .bind(BuildStatus::Running.as_str())
            .bind(started_before)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    // ---- artifacts, uploads, blobs ------------------------------------------------------

    pub async fn artifacts(&self, build_id: i64) -> DbResult<Vec<Artifact>> {
        Ok(sqlx::query_as(
            "SELECT a.id, a.node_index, a.path, a.pretty_path, a.size, a.sha256, a.content_type, a.s3_key
             FROM artifacts a
             WHERE a.build_id = ? ORDER BY a.node_index, a.pretty_path",
        )
        .bind(build_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// A page of artifacts after `(node, path)` in listing order, for keyset paging (API v2).
    pub async fn artifacts_page(
        &self,
        build_id: i64,
        after: Option<(i64, &str)>,
        limit: i64,
    ) -> DbResult<Vec<Artifact>> {
        let (node, path) = after.unwrap_or((-1, ""));
        Ok(sqlx::query_as(
            "SELECT a.id, a.node_index, a.path, a.pretty_path, a.size, a.sha256, a.content_type, a.s3_key
             FROM artifacts a
             WHERE a.build_id = ? AND (a.node_index > ? OR (a.node_index = ? AND a.pretty_path > ?))
             ORDER BY a.node_index, a.pretty_path LIMIT ?",
        )
        .bind(build_id)
        .bind(node)
        .bind(node)
        .bind(path)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn artifact(&self, build_id: i64, node: NodeIndex, pretty_path: &str) -> DbResult<Artifact> {
        sqlx::query_as(
            "SELECT a.id, a.node_index, a.path, a.pretty_path, a.size, a.sha256, a.content_type, a.s3_key
             FROM artifacts a
             WHERE a.build_id = ? AND a.node_index = ? AND a.pretty_path = ?",
        )
        .bind(build_id)
        .bind(node.0)
        .bind(pretty_path)
        .fetch_one(&self.pool)
        .await
        .map_err(DbError::from_sqlx)
    }

    /// Verified objects of this project with the given contents, by `(sha256, size)`. Only
    /// the project's own: what a plan answers never depends on another project's content.
    pub async fn project_blobs(
        &self,
        project_id: i64,
        contents: &[(&str, i64)],
    ) -> DbResult<HashMap<(String, i64), String>> {
        let mut found = HashMap::new();
        for chunk in contents.chunks(500) {
            let mut q: QueryBuilder<Sqlite> =
                QueryBuilder::new("SELECT sha256, s3_key, size FROM blobs WHERE project_id = ");
            q.push_bind(project_id).push(" AND sha256 IN (");
            let mut list = q.separated(", ");
            for (sha256, _) in chunk {
                list.push_bind(*sha256);
            }
            q.push(")");
            let blobs: Vec<Blob> = q.build_query_as().fetch_all(&self.pool).await?;
            for blob in blobs {
                found.entry((blob.sha256, blob.size)).or_insert(blob.s3_key);
            }
        }
        Ok(found)
    }

    /// Which of `sizes` a verified object of this project has (for files declared without a
    /// SHA-256: only a size the project keeps can be content it keeps).
    pub async fn project_blob_sizes(&self, project_id: i64, sizes: &[i64]) -> DbResult<HashSet<i64>> {
        let mut found = HashSet::new();
        for chunk in sizes.chunks(500) {
            let mut q: QueryBuilder<Sqlite> = QueryBuilder::new("SELECT DISTINCT size FROM blobs WHERE project_id = ");
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
    pub async fn listed_contents(
        &self,
        build_id: i64,
        node: NodeIndex,
        paths: &[&str],
    ) -> DbResult<HashMap<String, (String, i64)>> {
        let mut found = HashMap::new();
        for chunk in paths.chunks(500) {
            let mut q: QueryBuilder<Sqlite> =
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
    pub async fn build_entry_count(&self, build_id: i64) -> DbResult<i64> {
        Ok(sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM artifacts WHERE build_id = ?)
                  + (SELECT COUNT(*) FROM uploads WHERE build_id = ? AND verified_at IS NULL AND expires_at > ?)",
        )
        .bind(build_id)
        .bind(build_id)
        .bind(now())
        .fetch_one(&self.pool)
        .await?)
    }

    /// Records a plan in one transaction: content the project already keeps is listed at
    /// once, the rest becomes pending uploads. A few statements per batch, not per file.
    pub async fn record_plan(
        &self,
        build_id: i64,
        reused: &[(NewArtifact, String)],
        uploads: &[Upload],
    ) -> DbResult<()> {
        let mut tx = self.pool.begin().await?;
        let listed: Vec<(&NewArtifact, &str)> = reused.iter().map(|(a, key)| (a, key.as_str())).collect();
        upsert_artifacts(&mut tx, build_id, &listed).await?;
        let created_at = now();
        for chunk in uploads.chunks(ROWS_PER_STATEMENT) {
            let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
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
                    .push_bind(&u.artifact.sha256)
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
    pub async fn record_verified(&self, verified: &[(Upload, String)], project_id: i64) -> DbResult<()> {
        if verified.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        let at = now();
        for chunk in verified.chunks(ROWS_PER_STATEMENT) {
            let mut q: QueryBuilder<Sqlite> =
                QueryBuilder::new("INSERT INTO blobs (s3_key, sha256, size, project_id, created_at) ");
            q.push_values(chunk, |mut row, (upload, key)| {
                row.push_bind(key)
                    .push_bind(&upload.artifact.sha256)
                    .push_bind(upload.artifact.size)
                    .push_bind(project_id)
                    .push_bind(at);
            });
            q.push(" ON CONFLICT DO NOTHING");
            q.build().execute(&mut *tx).await?;
        }
        let mut by_build: HashMap<i64, Vec<(&NewArtifact, &str)>> = HashMap::new();
        for (upload, key) in verified {
            by_build.entry(upload.build_id).or_default().push((&upload.artifact, key.as_str()));
        }
        for (build_id, listed) in by_build {
            upsert_artifacts(&mut tx, build_id, &listed).await?;
        }
        for chunk in verified.chunks(ROWS_PER_STATEMENT) {
            let mut q: QueryBuilder<Sqlite> = QueryBuilder::new("UPDATE uploads SET verified_at = ");
            q.push_bind(at).push(", blob_key = CASE id");
            for (upload, key) in chunk {
                q.push(" WHEN ").push_bind(&upload.id).push(" THEN ").push_bind(key);
            }
            q.push(" END WHERE id IN (");
            let mut ids = q.separated(", ");
            for (upload, _) in chunk {
                ids.push_bind(&upload.id);
            }
            q.push(")");
            q.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The uploads of a build with these ids, by id (unknown ids are left out).
    pub async fn uploads(&self, build_id: i64, ids: &[&str]) -> DbResult<HashMap<String, Upload>> {
        let mut found = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(UPLOAD_COLUMNS);
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

    pub async fn delete_upload(&self, id: &str) -> DbResult<()> {
        sqlx::query("DELETE FROM uploads WHERE id = ?").bind(id).execute(&self.pool).await?;
        Ok(())
    }

    /// Pending uploads whose URLs expired before `before`: never completed, to be removed.
    pub async fn abandoned_uploads(&self, before: i64, limit: i64) -> DbResult<Vec<Upload>> {
        let rows: Vec<UploadRow> = sqlx::query_as(&format!(
            "{UPLOAD_COLUMNS} WHERE verified_at IS NULL AND expires_at < ? ORDER BY expires_at LIMIT ?"
        ))
        .bind(before)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(Upload::from).collect())
    }

    /// Receipts of verified uploads whose URLs expired before `before` (they served retried
    /// confirmations): the upload id, its upload key, and the key its bytes are kept under.
    pub async fn expired_receipts(&self, before: i64, limit: i64) -> DbResult<Vec<(String, String, String)>> {
        Ok(sqlx::query_as(
            "SELECT id, s3_key, COALESCE(blob_key, s3_key) FROM uploads
             WHERE verified_at IS NOT NULL AND expires_at < ? ORDER BY expires_at LIMIT ?",
        )
        .bind(before)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// How many listed artifacts point at the stored objects with this content.
    pub async fn blob_refs(&self, sha256: &str) -> DbResult<i64> {
        Ok(sqlx::query_scalar("SELECT COALESCE(SUM(refs), 0) FROM blobs WHERE sha256 = ?")
            .bind(sha256)
            .fetch_one(&self.pool)
            .await?)
    }

    /// How many rows the upload bookkeeping holds (for tests and metrics).
    pub async fn pending_upload_count(&self) -> DbResult<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM uploads WHERE verified_at IS NULL").fetch_one(&self.pool).await?)
    }
}

const UPLOAD_COLUMNS: &str = "SELECT id, build_id, node_index, path, pretty_path, size, sha256, content_type, s3_key,
        multipart_id, part_sha256, expires_at, verified_at FROM uploads";

impl Db {
    pub async fn ping(&self) -> DbResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

/// Rows per multi-row statement: well under SQLite's 32,766 bound parameters.
const ROWS_PER_STATEMENT: usize = 200;

/// Lists artifacts whose objects are verified; the same path stored again replaces it (the
/// later of two in one call wins). Triggers keep each blob's count of artifacts pointing at it.
async fn upsert_artifacts(
    conn: &mut sqlx::SqliteConnection,
    build_id: i64,
    rows: &[(&NewArtifact, &str)],
) -> DbResult<()> {
    let mut seen = HashSet::new();
    let mut unique: Vec<&(&NewArtifact, &str)> =
        rows.iter().rev().filter(|(a, _)| seen.insert((a.node_index, a.pretty_path.as_str()))).collect();
    unique.reverse();
    let at = now();
    for chunk in unique.chunks(ROWS_PER_STATEMENT) {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
            "INSERT INTO artifacts (build_id, node_index, path, pretty_path, size, sha256, content_type, s3_key, created_at) ",
        );
        q.push_values(chunk, |mut row, (a, key)| {
            row.push_bind(build_id)
                .push_bind(a.node_index)
                .push_bind(&a.path)
                .push_bind(&a.pretty_path)
                .push_bind(a.size)
                .push_bind(&a.sha256)
                .push_bind(&a.content_type)
                .push_bind(*key)
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
