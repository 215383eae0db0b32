//! The SQLite store: one file in the data dir, WAL, one writer at a time.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, SqlitePool};

use super::queries::{ROWS_PER_STATEMENT, UPLOAD_COLUMNS, meta_store};
use super::rows::*;
use super::*;

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
}

/// An FTS5 query for `needle` as one phrase: its trigrams in a row, so a substring.
fn fts_phrase(needle: &str) -> String {
    format!("\"{}\"", needle.replace('"', "\"\""))
}

meta_store!(SqliteStore, sqlx::Sqlite, for_update = "", {
    async fn search_artifacts(&self, build_id: i64, needle: &str, limit: i64) -> DbResult<Vec<Artifact>> {
        // The trigram index needs three characters; shorter needles scan the build's rows.
        let rows: Vec<ArtifactRow> = if needle.chars().count() >= 3 {
            sqlx::query_as(
                "SELECT a.id, a.node_index, a.path, a.pretty_path, a.size, a.sha256, a.content_type, a.s3_key
                 FROM artifact_paths f JOIN artifacts a ON a.id = f.rowid
                 WHERE artifact_paths MATCH $1 AND a.build_id = $2
                 ORDER BY a.node_index, a.pretty_path LIMIT $3",
            )
            .bind(fts_phrase(needle))
            .bind(build_id)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?
        } else {
            sqlx::query_as(
                "SELECT a.id, a.node_index, a.path, a.pretty_path, a.size, a.sha256, a.content_type, a.s3_key
                 FROM artifacts a WHERE a.build_id = $1 AND a.pretty_path LIKE $2 ESCAPE '\\'
                 ORDER BY a.node_index, a.pretty_path LIMIT $3",
            )
            .bind(build_id)
            .bind(like_pattern(needle))
            .bind(limit)
            .fetch_all(&self.pool)
            .await?
        };
        Ok(rows.into_iter().map(Artifact::from).collect())
    }

    async fn try_lock_sweeper(&self) -> DbResult<Option<SweepLock>> {
        // One file, one server: nobody to share the work with.
        Ok(Some(SweepLock(Box::new(()))))
    }
});
