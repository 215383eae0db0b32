//! The metadata store: users, tokens, projects, builds, blobs, artifacts and uploads. One
//! seam, [`MetaStore`], with two implementations: SQLite (a file in the data dir, the
//! default) and PostgreSQL (`DATABASE_URL=postgres://...`, for several servers). Each has its
//! own migrations (`migrations/sqlite`, `migrations/postgres`). The queries are written once
//! for both (`queries.rs`); sqlx rows are mapped to the models at this boundary (`rows.rs`),
//! and every store error is one of [`DbError`]'s three kinds. Services see [`Db`] only.

mod copy;
mod models;
mod postgres;
mod queries;
mod rows;
mod sqlite;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

pub use models::*;

use vitrine_wire::domain::{BuildNum, BuildStatus, NodeIndex, ProjectSlug, StatusFilter};

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("not found")]
    NotFound,
    #[error("already exists")]
    Conflict,
    /// The store is busy (SQLite's write lock held past the busy timeout, a PostgreSQL
    /// deadlock or serialization failure, no free connection in time): worth trying again.
    #[error("the metadata store is busy: {0}")]
    Busy(sqlx::Error),
    #[error(transparent)]
    Other(sqlx::Error),
}

impl From<sqlx::Error> for DbError {
    fn from(e: sqlx::Error) -> Self {
        let busy = is_busy(&e);
        metrics::counter!(DB_ERRORS, "kind" => if busy { "busy" } else { "other" }).increment(1);
        if busy { DbError::Busy(e) } else { DbError::Other(e) }
    }
}

/// SQLite's BUSY and LOCKED codes (with their extended forms), PostgreSQL's serialization
/// failure, deadlock and lock-not-available, and a pool with no free connection.
fn is_busy(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut => true,
        sqlx::Error::Database(d) => {
            matches!(d.code().as_deref(), Some("5" | "6" | "261" | "262" | "517" | "773" | "40001" | "40P01" | "55P03"))
        }
        _ => false,
    }
}

impl DbError {
    fn from_sqlx(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::RowNotFound => DbError::NotFound,
            sqlx::Error::Database(d) if d.is_unique_violation() => DbError::Conflict,
            e => e.into(),
        }
    }
}

pub type DbResult<T> = Result<T, DbError>;

/// The metric counting the store's errors, by kind (`busy`, `other`).
pub const DB_ERRORS: &str = "vitrine_db_errors_total";

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A LIKE pattern that matches `needle` anywhere, its `%`, `_` and `\` taken literally
/// (with `ESCAPE '\'`).
fn like_pattern(needle: &str) -> String {
    let mut pattern = String::with_capacity(needle.len() + 2);
    pattern.push('%');
    for c in needle.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// Held while one server does background work that the others skip meanwhile.
pub struct SweepLock(#[allow(dead_code)] Box<dyn Send>);

/// What every metadata store does. Implemented for SQLite and PostgreSQL by one macro
/// (`queries.rs`), so a query is written once for both.
#[async_trait::async_trait]
pub trait MetaStore: Send + Sync {
    // ---- users, sessions, tokens -------------------------------------------------------
    async fn insert_user(&self, username: &str, password_hash: &str) -> DbResult<i64>;
    async fn user_by_name(&self, username: &str) -> DbResult<User>;
    async fn user_by_id(&self, id: i64) -> DbResult<User>;
    async fn insert_token(&self, token_hash: &str, owner: TokenOwner) -> DbResult<()>;
    /// Whose token this is (a disabled user's counts as unknown), and when it was last used.
    async fn token_owner(&self, token_hash: &str) -> DbResult<(i64, TokenOwner, Option<i64>)>;
    async fn delete_token(&self, token_hash: &str) -> DbResult<()>;
    async fn insert_session(&self, token_hash: &str, user_id: i64, expires_at: i64) -> DbResult<()>;
    async fn session_user(&self, token_hash: &str) -> DbResult<i64>;
    async fn delete_session(&self, token_hash: &str) -> DbResult<()>;

    /// Tokens, oldest first: all, or a user's, or a project's (its build tokens and its
    /// running builds' own tokens).
    async fn tokens(&self, user_id: Option<i64>, project_id: Option<i64>) -> DbResult<Vec<TokenInfo>>;
    /// Whose token this is, by its id (a disabled user's counts as unknown).
    async fn token_by_id(&self, id: i64) -> DbResult<TokenOwner>;
    async fn delete_token_by_id(&self, id: i64) -> DbResult<()>;
    /// Notes that a token was used now; written at most once a minute per token.
    async fn touch_token(&self, token_hash: &str) -> DbResult<()>;
    async fn set_user_disabled(&self, user_id: i64, disabled: bool) -> DbResult<()>;
    /// Ends every session of a user; answers how many there were.
    async fn delete_user_sessions(&self, user_id: i64) -> DbResult<u64>;

    // ---- projects -----------------------------------------------------------------------
    async fn insert_project(&self, slug: &ProjectSlug, public: bool) -> DbResult<i64>;
    async fn set_project_public(&self, project_id: i64, public: bool) -> DbResult<()>;
    async fn project_by_slug(&self, slug: &ProjectSlug) -> DbResult<Project>;
    async fn project_by_id(&self, id: i64) -> DbResult<Project>;
    /// Projects a viewer may see: public ones, and those the user is a member of.
    async fn visible_projects(&self, user_id: Option<i64>) -> DbResult<Vec<Project>>;
    async fn insert_member(&self, project_id: i64, user_id: i64) -> DbResult<()>;
    async fn is_member(&self, project_id: i64, user_id: i64) -> DbResult<bool>;
    async fn delete_member(&self, project_id: i64, user_id: i64) -> DbResult<()>;

    // ---- builds -------------------------------------------------------------------------
    /// Creates the next build of a project, with a number no other build of it has, also
    /// when several servers start builds at once.
    async fn insert_build(&self, project_id: i64, new: &NewBuild) -> DbResult<Build>;
    async fn build(&self, project_id: i64, num: BuildNum) -> DbResult<Build>;
    /// The project a build belongs to.
    async fn build_project(&self, build_id: i64) -> DbResult<i64>;
    /// Newest first; `branch` and `statuses` narrow the list when given.
    async fn builds(
        &self,
        project_id: i64,
        branch: Option<&str>,
        statuses: Option<&[BuildStatus]>,
        limit: i64,
        offset: i64,
    ) -> DbResult<Vec<Build>>;
    /// The newest build of a branch (or of any) whose status passes `filter`.
    async fn latest_build(&self, project_id: i64, branch: Option<&str>, filter: StatusFilter) -> DbResult<Build> {
        self.builds(project_id, branch, Some(filter.statuses()), 1, 0)
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
    async fn finished_nodes(&self, build_id: i64) -> DbResult<HashSet<i64>>;
    /// Removes the own tokens of builds that are closed (they can do nothing any more).
    async fn delete_closed_build_tokens(&self) -> DbResult<u64>;
    /// Closes builds still running that started before `started_before`, as `timedout`.
    async fn time_out_builds(&self, started_before: i64) -> DbResult<u64>;

    // ---- artifacts, uploads, blobs ------------------------------------------------------
    async fn artifacts(&self, build_id: i64) -> DbResult<Vec<Artifact>>;
    /// A page of artifacts after `(node, path)` in listing order, for keyset paging (API v2).
    async fn artifacts_page(&self, build_id: i64, after: Option<(i64, &str)>, limit: i64) -> DbResult<Vec<Artifact>>;
    /// How many artifacts each container of a build holds, by node index.
    async fn artifact_counts(&self, build_id: i64) -> DbResult<Vec<(i64, i64)>>;
    /// Artifacts of one container whose path is from `from` up to before `before` (byte
    /// order, the listing's), in order: a range of the unique index, for browsing folders.
    async fn artifacts_between(
        &self,
        build_id: i64,
        node: i64,
        from: &str,
        before: &str,
        limit: i64,
    ) -> DbResult<Vec<Artifact>>;
    /// How many artifacts of one container have a path from `from` up to before `before`.
    async fn count_between(&self, build_id: i64, node: i64, from: &str, before: &str) -> DbResult<i64>;
    /// Artifacts of a build of one kind, after `(node, path)`, in listing order: the
    /// gallery's pages, the build's HTML pages.
    async fn artifacts_of_kind(
        &self,
        build_id: i64,
        kind: ArtifactKind,
        after: Option<(i64, &str)>,
        limit: i64,
    ) -> DbResult<Vec<Artifact>>;
    async fn artifact(&self, build_id: i64, node: NodeIndex, pretty_path: &str) -> DbResult<Artifact>;
    /// Verified objects of this project with the given contents, by `(sha256, size)`. Only
    /// the project's own: what a plan answers never depends on another project's content.
    async fn project_blobs(
        &self,
        project_id: i64,
        contents: &[(&str, i64)],
    ) -> DbResult<HashMap<(String, i64), String>>;
    /// Which of `sizes` a verified object of this project has (for files declared without a
    /// SHA-256: only a size the project keeps can be content it keeps).
    async fn project_blob_sizes(&self, project_id: i64, sizes: &[i64]) -> DbResult<HashSet<i64>>;
    /// The content (`sha256`, `size`) of the given paths already listed for a node.
    async fn listed_contents(
        &self,
        build_id: i64,
        node: NodeIndex,
        paths: &[&str],
    ) -> DbResult<HashMap<String, (String, i64)>>;
    /// Listed artifacts plus uploads still pending in a build: what counts against its limit.
    async fn build_entry_count(&self, build_id: i64) -> DbResult<i64>;
    /// Records a plan in one transaction: content the project already keeps is listed at
    /// once, the rest becomes pending uploads. A few statements per batch, not per file.
    async fn record_plan(&self, build_id: i64, reused: &[(NewArtifact, String)], uploads: &[Upload]) -> DbResult<()>;
    /// Records verified uploads in one transaction: each object becomes a blob of the project,
    /// its artifact is listed (replacing one at the same path), the upload is marked verified.
    async fn record_verified(&self, verified: &[(Upload, String)], project_id: i64) -> DbResult<()>;
    /// The uploads of a build with these ids, by id (unknown ids are left out).
    async fn uploads(&self, build_id: i64, ids: &[&str]) -> DbResult<HashMap<String, Upload>>;
    async fn delete_upload(&self, id: &str) -> DbResult<()>;
    /// Pending uploads whose URLs expired before `before`: never completed, to be removed.
    async fn abandoned_uploads(&self, before: i64, limit: i64) -> DbResult<Vec<Upload>>;
    /// Receipts of verified uploads whose URLs expired before `before` (they served retried
    /// confirmations): the upload id, its upload key, and the key its bytes are kept under.
    async fn expired_receipts(&self, before: i64, limit: i64) -> DbResult<Vec<(String, String, String)>>;
    /// How many listed artifacts point at the stored objects with this content.
    async fn blob_refs(&self, sha256: &str) -> DbResult<i64>;
    /// How many rows the upload bookkeeping holds (for tests and metrics).
    async fn pending_upload_count(&self) -> DbResult<i64>;
    /// Artifacts of a build whose path contains `needle` (any case), in listing order, from an
    /// index (a trigram index on both stores): the viewer's filter.
    async fn search_artifacts(&self, build_id: i64, needle: &str, limit: i64) -> DbResult<Vec<Artifact>>;

    /// Removes artifacts from listings at once: a project's, a build's, or one path of a build
    /// (on every node). Objects nothing lists any more are doomed for the sweeper to delete
    /// (and can no longer be reused); answers (artifacts removed, objects doomed, objects kept
    /// because other artifacts list the same content).
    async fn purge(
        &self,
        project_id: i64,
        build_id: Option<i64>,
        pretty_path: Option<&str>,
    ) -> DbResult<(u64, u64, u64)>;
    // ---- retention ----------------------------------------------------------------------
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

    // ---- audit log ----------------------------------------------------------------------
    async fn insert_audit(&self, events: &[AuditEvent]) -> DbResult<()>;
    /// The newest `limit` events at or after `since`, of one project or all, oldest first.
    async fn audit_events(&self, project: Option<&str>, since: i64, limit: i64) -> DbResult<Vec<AuditEvent>>;
    /// Forgets events older than `before`; answers how many.
    async fn forget_audit(&self, before: i64) -> DbResult<u64>;

    /// Objects doomed by purges, oldest first.
    async fn doomed_objects(&self, limit: i64) -> DbResult<Vec<String>>;
    async fn forget_doomed(&self, s3_key: &str) -> DbResult<()>;

    // ---- rate limits --------------------------------------------------------------------
    /// How many hits each of `keys` took in its current window (one that started after
    /// `window_after`), and when that window started; keys without one are left out.
    async fn rate_counts(&self, keys: &[&str], window_after: i64) -> DbResult<HashMap<String, (i64, i64)>>;
    /// Counts a hit on `key`: in its current window, or in a new one from now when the last
    /// started at or before `window_after`. Answers the window's count and when it started.
    async fn rate_hit(&self, key: &str, window_after: i64) -> DbResult<(i64, i64)>;
    /// Takes back a hit on `key` (an attempt that turned out fine).
    async fn rate_release(&self, key: &str) -> DbResult<()>;
    /// Forgets windows that started at or before `before`.
    async fn forget_rate_windows(&self, before: i64) -> DbResult<u64>;

    // ---- servers ------------------------------------------------------------------------
    /// The key every server of this installation shares under `name`: the first server to
    /// ask stores `fresh`, every later call (on any server) answers that same key.
    async fn shared_key(&self, name: &str, fresh: &[u8]) -> DbResult<Vec<u8>>;
    /// A shared key as it is now (read only).
    async fn read_shared_key(&self, name: &str) -> DbResult<Vec<u8>>;
    /// Replaces a shared key (every server takes the new one within seconds).
    async fn replace_shared_key(&self, name: &str, key: &[u8]) -> DbResult<()>;
    /// Background work that one server at a time should do: `None` when another server holds
    /// it now. The work stays this server's until the lock is dropped, or the server dies.
    async fn try_lock_sweeper(&self) -> DbResult<Option<SweepLock>>;
    async fn ping(&self) -> DbResult<()>;
}

/// Which store a [`Db`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    Sqlite,
    Postgres,
}

/// The services' handle on the metadata store: cheap to clone, one pool behind it.
#[derive(Clone)]
pub struct Db(Backend);

#[derive(Clone)]
enum Backend {
    Sqlite(Arc<sqlite::SqliteStore>),
    Postgres(Arc<postgres::PgStore>),
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("kind", &self.kind()).finish_non_exhaustive()
    }
}

impl std::ops::Deref for Db {
    type Target = dyn MetaStore;

    fn deref(&self) -> &Self::Target {
        match &self.0 {
            Backend::Sqlite(s) => &**s,
            Backend::Postgres(p) => &**p,
        }
    }
}

/// Connections a server keeps to PostgreSQL unless told otherwise.
pub const DEFAULT_POOL_SIZE: u32 = 16;

impl Db {
    /// Opens (creating if needed) `vitrine.db` in `data_dir` and applies migrations.
    pub async fn open_in(data_dir: &Path) -> anyhow::Result<Db> {
        Ok(Db(Backend::Sqlite(Arc::new(sqlite::SqliteStore::open_in(data_dir).await?))))
    }

    /// The store `DATABASE_URL` names, or SQLite in the data dir when it is unset. PostgreSQL
    /// keeps up to `pool_size` connections.
    pub async fn open(data_dir: &Path, database_url: Option<&str>, pool_size: u32) -> anyhow::Result<Db> {
        match database_url {
            None | Some("") => Db::open_in(data_dir).await,
            Some(url) if url.starts_with("sqlite:") => {
                Ok(Db(Backend::Sqlite(Arc::new(sqlite::SqliteStore::open_url(url).await?))))
            }
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Ok(Db(Backend::Postgres(Arc::new(postgres::PgStore::open(url, pool_size).await?))))
            }
            Some(_) => anyhow::bail!(
                "DATABASE_URL must start with postgres:// (PostgreSQL) or sqlite: (a SQLite file); \
                 unset it to use SQLite in the data dir"
            ),
        }
    }

    pub fn kind(&self) -> StoreKind {
        match self.0 {
            Backend::Sqlite(_) => StoreKind::Sqlite,
            Backend::Postgres(_) => StoreKind::Postgres,
        }
    }

    /// Copies everything this SQLite store holds into the empty PostgreSQL database at
    /// `url` (migrating it first): `vitrine admin migrate --to`. Answers rows copied per table.
    pub async fn copy_to_postgres(&self, url: &str) -> anyhow::Result<Vec<(&'static str, u64)>> {
        let Backend::Sqlite(from) = &self.0 else {
            anyhow::bail!("this metadata store is PostgreSQL already; `migrate --to` copies a SQLite store");
        };
        let to = postgres::PgStore::open(url, 4).await?;
        copy::sqlite_to_postgres(&from.pool, &to.pool).await
    }
}

#[cfg(test)]
mod tests {
    use sqlx::Connection;
    use sqlx::sqlite::SqliteConnectOptions;

    use super::queries::artifact_columns;
    use super::*;

    #[tokio::test]
    async fn sqlite_busy_is_told_apart_and_answers_503() {
        let dir = tempfile::tempdir().unwrap();
        let options = SqliteConnectOptions::new().filename(dir.path().join("b.db")).create_if_missing(true);
        let mut holder = sqlx::SqliteConnection::connect_with(&options).await.unwrap();
        sqlx::query("CREATE TABLE t (x INTEGER)").execute(&mut holder).await.unwrap();
        sqlx::query("BEGIN IMMEDIATE").execute(&mut holder).await.unwrap();
        let impatient = options.busy_timeout(std::time::Duration::ZERO);
        let mut other = sqlx::SqliteConnection::connect_with(&impatient).await.unwrap();
        let e = sqlx::query("INSERT INTO t VALUES (1)").execute(&mut other).await.unwrap_err();
        let e = DbError::from(e);
        assert!(matches!(e, DbError::Busy(_)), "{e:?}");
        let other = DbError::from(sqlx::Error::RowNotFound);
        assert!(matches!(other, DbError::Other(_)));
    }

    /// The build page's picks of images and HTML pages go through their partial indexes
    /// (SQLite uses one only when the query states its condition as the index does).
    #[tokio::test]
    async fn a_build_s_images_and_pages_are_found_by_their_own_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let store = sqlite::SqliteStore::open_in(dir.path()).await.unwrap();
        for (sql, index) in [
            (queries::artifacts_of_kind!("a.content_type LIKE 'image/%'"), "artifacts_images"),
            (queries::artifacts_of_kind!("a.content_type LIKE 'text/html%'"), "artifacts_pages"),
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
