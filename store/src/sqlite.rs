//! The SQLite store: one file in the data dir, WAL, one writer at a time.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, SqlitePool};

use vitrine_wire::domain::{BuildNum, BuildStatus, NodeIndex, ProjectSlug};

use super::accounts::{AccountStore, account_store};
use super::artifacts::{ArtifactStore, artifact_store, artifacts_of_kind};
use super::audit::{AuditStore, audit_store};
use super::builds::{BuildStore, build_store};
use super::columns::{ROWS_PER_STATEMENT, UPLOAD_COLUMNS, artifact_columns, build_columns, like_pattern, now};
use super::error::{DbError, DbResult};
use super::identities::{IdentityStore, identity_store};
use super::ids::{BuildId, ProjectId, TokenId, UserId};
use super::limits::{RateLimitStore, rate_limit_store};
use super::models::{
    Artifact, ArtifactKind, AuditEvent, Build, ExpiredBuild, Grant, GrantSource, GroupRole, Identity, NewBuild,
    NewTestRun, NodeCount, NodeFinish, PendingSignIn, Pin, Project, Purged, RateWindow, Receipt, Role, Scope,
    SessionIdentity, SessionInfo, SessionOwner, TestRun, ToList, TokenFound, TokenInfo, TokenOwner, TokenTerms, Upload,
    User, UserSummary, Verified,
};
use super::projects::{ProjectStore, project_store};
use super::retention::{RetentionStore, retention_store};
use super::rows::{
    ArtifactRow, BlobRow, BuildRow, GrantRow, GroupRoleRow, IdentityRow, PendingSignInRow, ProjectRow,
    SessionIdentityRow, SessionOwnerRow, SessionRow, TestRunRow, TokenInfoRow, TokenRow, UploadRow, UserRow,
    UserSummaryRow,
};
use super::servers::{ServerStore, SweepLock, server_store};
use super::test_results::{TestResultStore, test_result_store};
use super::uploads::{UploadStore, upload_store};

pub(super) struct SqliteStore {
    pub(super) pool: SqlitePool,
}

impl SqliteStore {
    pub(super) async fn open_in(data_dir: &Path) -> anyhow::Result<SqliteStore> {
        let options = SqliteConnectOptions::new()
            .filename(data_dir.join("vitrine.db"))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        Self::connect(options).await
    }

    pub(super) async fn open_url(url: &str) -> anyhow::Result<SqliteStore> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        Self::connect(options).await
    }

    async fn connect(options: SqliteConnectOptions) -> anyhow::Result<SqliteStore> {
        let pool = SqlitePoolOptions::new().max_connections(8).connect_with(options).await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        Ok(SqliteStore { pool })
    }

    /// A transaction that writes takes SQLite's write lock at once (`BEGIN IMMEDIATE`), so
    /// waiting for another writer goes through the busy timeout. A deferred one that read
    /// first could not wait: SQLite refuses its upgrade to a writer at once (SQLITE_BUSY).
    pub(super) async fn begin_write(&self) -> sqlx::Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
        self.pool.begin_with("BEGIN IMMEDIATE").await
    }
}

impl SqliteStore {
    /// Whether the trigram index answers `needle` in this build faster than reading the
    /// build's paths. The index holds every build's paths, so it wins only when the needle's
    /// rarest trigram is in fewer paths (of all builds) than this build has; a common needle
    /// ("png") is answered from the build's own rows, which stop at the first page of matches.
    /// Needles under three characters have no trigram; non-ASCII ones go to the index, whose
    /// case folding covers Unicode (LIKE folds ASCII only).
    async fn search_by_index(&self, build_id: BuildId, needle: &str) -> DbResult<bool> {
        if needle.chars().count() < 3 {
            return Ok(false);
        }
        if !needle.is_ascii() {
            return Ok(true);
        }
        let folded = needle.to_ascii_lowercase();
        let trigrams: Vec<&str> = (0..=folded.len() - 3).map(|i| &folded[i..i + 3]).collect();
        let mut q: QueryBuilder<sqlx::Sqlite> =
            QueryBuilder::new("SELECT term, doc FROM artifact_path_trigrams WHERE term IN (");
        let mut list = q.separated(", ");
        for t in &trigrams {
            list.push_bind(*t);
        }
        q.push(")");
        let counts: Vec<(String, i64)> = q.build_query_as().fetch_all(&self.pool).await?;
        // A trigram no path has: no match anywhere, and the index says so at once.
        let rarest = if counts.len() < trigrams.iter().collect::<HashSet<_>>().len() {
            0
        } else {
            counts.iter().map(|(_, n)| *n).min().unwrap_or(0)
        };
        // Counted only as far as it matters: does the build have more rows than that?
        let in_build: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM (SELECT 1 FROM artifacts WHERE build_id = $1 LIMIT $2)")
                .bind(build_id)
                .bind(rarest + 1)
                .fetch_one(&self.pool)
                .await?;
        Ok(in_build > rarest)
    }
}

/// An FTS5 query for `needle` as one phrase: its trigrams in a row, so a substring.
fn fts_phrase(needle: &str) -> String {
    format!("\"{}\"", needle.replace('"', "\"\""))
}

account_store!(SqliteStore, sqlx::Sqlite);
project_store!(SqliteStore, sqlx::Sqlite);
identity_store!(SqliteStore, sqlx::Sqlite);
test_result_store!(SqliteStore, sqlx::Sqlite);
build_store!(SqliteStore, sqlx::Sqlite, for_update = "");

artifact_store!(SqliteStore, sqlx::Sqlite, {
    async fn search_artifacts(&self, build_id: BuildId, needle: &str, limit: i64) -> DbResult<Vec<Artifact>> {
        let rows: Vec<ArtifactRow> = if self.search_by_index(build_id, needle).await? {
            sqlx::query_as(concat!(
                "SELECT ",
                artifact_columns!(),
                "
                 FROM artifact_paths f CROSS JOIN artifacts a ON a.id = f.rowid
                 WHERE artifact_paths MATCH $1 AND a.build_id = $2
                 ORDER BY a.node_index, a.pretty_path LIMIT $3"
            ))
            .bind(fts_phrase(needle))
            .bind(build_id)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?
        } else {
            sqlx::query_as(concat!(
                "SELECT ",
                artifact_columns!(),
                "
                 FROM artifacts a WHERE a.build_id = $1 AND a.pretty_path LIKE $2 ESCAPE '\\'
                 ORDER BY a.node_index, a.pretty_path LIMIT $3"
            ))
            .bind(build_id)
            .bind(like_pattern(needle))
            .bind(limit)
            .fetch_all(&self.pool)
            .await?
        };
        Ok(rows.into_iter().map(Artifact::from).collect())
    }
});

upload_store!(SqliteStore, sqlx::Sqlite);
retention_store!(SqliteStore, sqlx::Sqlite);
audit_store!(SqliteStore, sqlx::Sqlite);
rate_limit_store!(SqliteStore, sqlx::Sqlite);

server_store!(SqliteStore, sqlx::Sqlite, {
    async fn try_lock_sweeper(&self) -> DbResult<Option<SweepLock>> {
        // One file, one server: nobody to share the work with.
        Ok(Some(SweepLock(Box::new(()))))
    }
});
