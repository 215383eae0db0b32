//! The metadata store: users, tokens, projects, builds, blobs, artifacts and uploads, in SQLite
//! (a file in the data dir, the default) or PostgreSQL (`DATABASE_URL=postgres://...`, for
//! several servers). Each has its own migrations (`migrations/sqlite`, `migrations/postgres`).
//!
//! The seam is split by feature: one trait per feature, each in its own file with the macro
//! that implements it for both stores, its queries written once for both. [`AccountStore`]
//! (`accounts.rs`: users, sessions, tokens), [`ProjectStore`] (`projects.rs`), [`IdentityStore`]
//! (`identities.rs`: identity providers' people, pending sign-ins, group roles), [`BuildStore`]
//! (`builds.rs`), [`ArtifactStore`] (`artifacts.rs`: listings, purges, doomed objects),
//! [`UploadStore`] (`uploads.rs`: plans, uploads, blobs), [`RetentionStore`] (`retention.rs`),
//! [`AuditStore`] (`audit.rs`), [`TestResultStore`] (`test_results.rs`: tests and their runs),
//! [`RateLimitStore`] (`limits.rs`) and [`ServerStore`]
//! (`servers.rs`: shared keys, the sweeper's lock). `sqlite.rs` and `postgres.rs` expand every
//! macro for their store, with the methods each writes in its own SQL; what the queries share
//! is in `columns.rs`. sqlx rows are mapped to the models at this boundary (`rows.rs`), and
//! every store error is one of [`DbError`]'s kinds (`error.rs`).
//!
//! [`MetaStore`] is the union of the features' traits. Services see [`Db`] only: the whole
//! store through its `Deref`, or one feature's narrow handle ([`Db::account_store`], ...).

mod accounts;
mod artifacts;
mod audit;
mod builds;
mod columns;
mod copy;
mod error;
mod identities;
mod ids;
mod limits;
mod models;
mod postgres;
mod projects;
mod retention;
mod rows;
mod servers;
mod sqlite;
mod test_results;
mod uploads;

use std::path::Path;
use std::sync::Arc;

pub use accounts::AccountStore;
pub use artifacts::ArtifactStore;
pub use audit::AuditStore;
pub use builds::BuildStore;
pub use error::{DB_ERRORS, DbError, DbResult};
pub use identities::IdentityStore;
pub use ids::{BuildId, ProjectId, TokenId, UserId};
pub use limits::RateLimitStore;
pub use models::*;
pub use projects::ProjectStore;
pub use retention::RetentionStore;
pub use servers::{ServerStore, SweepLock};
pub use test_results::TestResultStore;
pub use uploads::UploadStore;

/// What every metadata store does: every feature's trait, implemented for SQLite and
/// PostgreSQL by the features' macros, so a query is written once for both. A type that
/// implements them all is a `MetaStore`.
pub trait MetaStore:
    AccountStore
    + ProjectStore
    + IdentityStore
    + BuildStore
    + ArtifactStore
    + UploadStore
    + RetentionStore
    + AuditStore
    + RateLimitStore
    + ServerStore
    + TestResultStore
{
}

impl<T> MetaStore for T where
    T: AccountStore
        + ProjectStore
        + IdentityStore
        + BuildStore
        + ArtifactStore
        + UploadStore
        + RetentionStore
        + AuditStore
        + RateLimitStore
        + ServerStore
        + TestResultStore
{
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

    /// The whole store, shared: what each feature's handle is cut from.
    fn store(&self) -> Arc<dyn MetaStore> {
        match &self.0 {
            Backend::Sqlite(s) => s.clone(),
            Backend::Postgres(p) => p.clone(),
        }
    }

    /// What the accounts feature sees: users, sessions and tokens.
    pub fn account_store(&self) -> Arc<dyn AccountStore> {
        self.store()
    }

    /// What the projects feature sees: projects and their members.
    pub fn project_store(&self) -> Arc<dyn ProjectStore> {
        self.store()
    }

    pub fn identity_store(&self) -> Arc<dyn IdentityStore> {
        self.store()
    }

    pub fn test_result_store(&self) -> Arc<dyn TestResultStore> {
        self.store()
    }

    /// What the builds feature sees: builds and their nodes.
    pub fn build_store(&self) -> Arc<dyn BuildStore> {
        self.store()
    }

    /// What the artifacts feature sees: listings, purges and the objects purges doomed.
    pub fn artifact_store(&self) -> Arc<dyn ArtifactStore> {
        self.store()
    }

    /// What the uploads feature sees: plans, uploads and the blobs they become.
    pub fn upload_store(&self) -> Arc<dyn UploadStore> {
        self.store()
    }

    /// What retention sees: how long builds are kept, pins, default branches.
    pub fn retention_store(&self) -> Arc<dyn RetentionStore> {
        self.store()
    }

    /// What the audit log sees.
    pub fn audit_store(&self) -> Arc<dyn AuditStore> {
        self.store()
    }

    /// What rate limiting sees: hits per key and window.
    pub fn rate_limit_store(&self) -> Arc<dyn RateLimitStore> {
        self.store()
    }

    /// What the servers of one installation share: keys, the sweeper's lock, health.
    pub fn server_store(&self) -> Arc<dyn ServerStore> {
        self.store()
    }

    pub fn kind(&self) -> StoreKind {
        match self.0 {
            Backend::Sqlite(_) => StoreKind::Sqlite,
            Backend::Postgres(_) => StoreKind::Postgres,
        }
    }

    /// Writes a consistent copy of this SQLite store into the new file `dest` while servers
    /// keep writing (`VACUUM INTO`: one read transaction, so one moment of the store).
    pub async fn backup_sqlite(&self, dest: &Path) -> anyhow::Result<()> {
        let Backend::Sqlite(from) = &self.0 else {
            anyhow::bail!(
                "the metadata store is PostgreSQL: back it up with PostgreSQL's own tools (pg_dump; README, Backups)"
            );
        };
        let dest = dest.to_str().ok_or_else(|| anyhow::anyhow!("{} is not a UTF-8 path", dest.display()))?;
        sqlx::query("VACUUM INTO ?").bind(dest).execute(&from.pool).await?;
        Ok(())
    }

    /// The object key of every artifact listed (what a backup must hold the bytes of).
    pub async fn listed_objects(&self) -> anyhow::Result<Vec<String>> {
        const QUERY: &str = "SELECT DISTINCT s3_key FROM artifacts";
        Ok(match &self.0 {
            Backend::Sqlite(s) => sqlx::query_scalar(QUERY).fetch_all(&s.pool).await?,
            Backend::Postgres(p) => sqlx::query_scalar(QUERY).fetch_all(&p.pool).await?,
        })
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
    use super::*;

    /// A feature's handle and the whole store are one store: what one writes, the other reads.
    #[tokio::test]
    async fn a_feature_s_handle_is_the_whole_store_s() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open_in(dir.path()).await.unwrap();
        let id = db.account_store().insert_user("alice", "hash", false).await.unwrap();
        assert_eq!(db.user_by_id(id).await.unwrap().username, "alice");
        db.server_store().ping().await.unwrap();
    }
}
