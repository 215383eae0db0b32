//! `vitrine admin migrate --to postgres://...`: copies a SQLite store into an empty
//! PostgreSQL one, table by table in key order, in one PostgreSQL transaction (all or
//! nothing), a few hundred rows per statement, never holding a whole table in memory.

use anyhow::Context;
use futures::TryStreamExt;
use sqlx::{PgPool, Postgres, QueryBuilder, SqlitePool};

/// Rows per INSERT (15 columns at most: well under PostgreSQL's 65,535 parameters).
const BATCH: usize = 500;

/// Copies one table: `copy!(from, tx, "table", [col: Type, ...])` reads the columns from
/// SQLite and inserts them into PostgreSQL unchanged. Answers how many rows it copied.
macro_rules! copy {
    ($from:expr, $tx:expr, $table:literal, [$($col:ident: $ty:ty),+ $(,)?]) => {{
        let columns = [$(stringify!($col)),+].join(", ");
        let select = format!("SELECT {columns} FROM {} ORDER BY 1", $table);
        let mut rows = sqlx::query_as::<_, ($($ty,)+)>(&select).fetch($from);
        let mut batch = Vec::with_capacity(BATCH);
        let mut copied = 0u64;
        loop {
            let row = rows.try_next().await.with_context(|| format!("reading {} from SQLite", $table))?;
            let done = row.is_none();
            batch.extend(row);
            if batch.len() == BATCH || (done && !batch.is_empty()) {
                let mut q: QueryBuilder<Postgres> = QueryBuilder::new(format!("INSERT INTO {} ({columns}) ", $table));
                q.push_values(batch.drain(..), |mut b, ($($col,)+)| {
                    $(b.push_bind($col);)+
                });
                let n = q.build().execute(&mut *$tx).await.with_context(|| format!("writing {} to PostgreSQL", $table))?;
                copied += n.rows_affected();
            }
            if done {
                break;
            }
        }
        ($table, copied)
    }};
}

pub(super) async fn sqlite_to_postgres(from: &SqlitePool, to: &PgPool) -> anyhow::Result<Vec<(&'static str, u64)>> {
    let taken: i64 = sqlx::query_scalar(
        "SELECT (SELECT COUNT(*) FROM users) + (SELECT COUNT(*) FROM projects) + (SELECT COUNT(*) FROM server_keys)",
    )
    .fetch_one(to)
    .await?;
    anyhow::ensure!(taken == 0, "the PostgreSQL database is not empty: `migrate --to` only fills an empty one");
    let mut tx = to.begin().await?;
    let copied = vec![
        copy!(from, tx, "users", [
            id: i64, username: String, password_hash: String, created_at: i64, disabled_at: Option<i64>, admin: bool,
            admin_by_group: bool,
        ]),
        copy!(from, tx, "projects", [
            id: i64, vcs_type: String, org: String, repo: String, public: bool, created_at: i64, last_build_num: i64,
            retention_secs: Option<i64>, default_branch: Option<String>,
        ]),
        copy!(from, tx, "project_members", [
            project_id: i64, user_id: i64, role: String, source: String, granted_at: i64,
        ]),
        copy!(from, tx, "project_groups", [project_id: i64, group_name: String, role: String, created_at: i64]),
        copy!(from, tx, "builds", [
            id: i64, project_id: i64, build_num: i64, branch: String, revision: String, status: String,
            parallelism: i64, start_time: i64, stop_time: Option<i64>, pinned_at: Option<i64>,
            pinned_by: Option<i64>, artifacts_expired_at: Option<i64>, listing_version: i64, agent: Option<String>,
            job: String,
        ]),
        copy!(from, tx, "build_nodes", [build_id: i64, node_index: i64, status: String, finished_at: i64]),
        copy!(from, tx, "tokens", [
            id: i64, token_hash: String, user_id: Option<i64>, project_id: Option<i64>, build_id: Option<i64>,
            created_at: i64, last_used_at: Option<i64>, label: String, scope: String, expires_at: Option<i64>,
        ]),
        copy!(from, tx, "sessions", [
            id: i64, token_hash: String, user_id: i64, expires_at: i64, created_at: i64, agent: String,
            issuer: Option<String>, subject: Option<String>, checked_at: Option<i64>, refresh_token: Option<String>,
            id_token: Option<String>,
        ]),
        copy!(from, tx, "user_identities", [
            issuer: String, subject: String, user_id: i64, linked_at: i64, last_sign_in_at: Option<i64>,
        ]),
        copy!(from, tx, "sign_in_attempts", [
            cookie_hash: String, issuer: String, state: String, nonce: String, pkce_verifier: String, next: String,
            created_at: i64,
        ]),
        // Reference counts are counted again by the artifacts' triggers as artifacts arrive.
        copy!(from, tx, "blobs", [s3_key: String, sha256: String, size: i64, project_id: i64, created_at: i64]),
        copy!(from, tx, "artifacts", [
            id: i64, build_id: i64, node_index: i64, path: String, pretty_path: String, size: i64, sha256: String,
            content_type: String, s3_key: String, created_at: i64,
        ]),
        copy!(from, tx, "uploads", [
            id: String, build_id: i64, node_index: i64, path: String, pretty_path: String, size: i64, sha256: String,
            content_type: String, s3_key: String, multipart_id: Option<String>, created_at: i64, part_sha256: String,
            expires_at: i64, verified_at: Option<i64>, blob_key: Option<String>,
        ]),
        copy!(from, tx, "tests", [
            id: i64, project_id: i64, suite: String, classname: String, name: String, file: String,
        ]),
        copy!(from, tx, "test_runs", [
            build_id: i64, seq: i64, node_index: i64, test_id: i64, result: String, run_time: Option<f64>,
            message: String, detail: String, source: String, attachments: String,
        ]),
        copy!(from, tx, "server_keys", [name: String, key: Vec<u8>, created_at: i64]),
        copy!(from, tx, "doomed_objects", [s3_key: String, doomed_at: i64]),
        copy!(from, tx, "audit_events", [
            id: i64, at: i64, actor: String, user_id: Option<i64>, token_id: Option<i64>, action: String,
            project: Option<String>, build_num: Option<i64>, detail: String, client: Option<String>, repeats: i64,
        ]),
    ];
    // Ids were copied as they were: new rows continue after the highest.
    for table in ["users", "projects", "builds", "tokens", "sessions", "artifacts", "audit_events", "tests"] {
        sqlx::query(&format!(
            "SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
        ))
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await.context("committing the copy")?;
    Ok(copied)
}
