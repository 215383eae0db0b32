//! What the audit log sees of the metadata store, and the macro that implements it for both
//! stores.

use super::error::DbResult;
use super::models::AuditEvent;

/// The audit log: who did what, when, from where.
#[async_trait::async_trait]
pub trait AuditStore: Send + Sync {
    async fn insert_audit(&self, events: &[AuditEvent]) -> DbResult<()>;
    /// The newest `limit` events at or after `since`, of one project or all, oldest first.
    async fn audit_events(&self, project: Option<&str>, since: i64, limit: i64) -> DbResult<Vec<AuditEvent>>;
    /// Forgets events older than `before`; answers how many.
    async fn forget_audit(&self, before: i64) -> DbResult<u64>;
}

/// Expands to `impl AuditStore for $store`, its queries written once for both stores.
/// `$store` has a `pool: sqlx::Pool<$db>` (`$db`: `sqlx::Sqlite` or `sqlx::Postgres`); names
/// the query needs (rows, columns, models) are those in scope where it expands.
macro_rules! audit_store {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl AuditStore for $store {
            async fn insert_audit(&self, events: &[AuditEvent]) -> DbResult<()> {
                for chunk in events.chunks(ROWS_PER_STATEMENT) {
                    let mut q: QueryBuilder<$db> = QueryBuilder::new(
                        "INSERT INTO audit_events (at, actor, user_id, token_id, action, project, build_num, detail, client, repeats) ",
                    );
                    q.push_values(chunk, |mut row, e| {
                        row.push_bind(e.at)
                            .push_bind(&e.actor)
                            .push_bind(e.user_id)
                            .push_bind(e.token_id)
                            .push_bind(&e.action)
                            .push_bind(&e.project)
                            .push_bind(e.build_num)
                            .push_bind(&e.detail)
                            .push_bind(&e.client)
                            .push_bind(e.repeats);
                    });
                    q.build().execute(&self.pool).await?;
                }
                Ok(())
            }

            async fn audit_events(&self, project: Option<&str>, since: i64, limit: i64) -> DbResult<Vec<AuditEvent>> {
                type Row = (i64, String, Option<UserId>, Option<TokenId>, String, Option<String>, Option<i64>, String, Option<String>, i64);
                let rows: Vec<Row> = sqlx::query_as(
                    "SELECT at, actor, user_id, token_id, action, project, build_num, detail, client, repeats FROM (
                         SELECT * FROM audit_events WHERE at >= $1 AND ($2 IS NULL OR project = $2)
                         ORDER BY at DESC, id DESC LIMIT $3
                     ) newest ORDER BY at, id",
                )
                .bind(since)
                .bind(project)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|(at, actor, user_id, token_id, action, project, build_num, detail, client, repeats)| AuditEvent {
                        at, actor, user_id, token_id, action, project, build_num, detail, client, repeats,
                    })
                    .collect())
            }

            async fn forget_audit(&self, before: i64) -> DbResult<u64> {
                let done = sqlx::query("DELETE FROM audit_events WHERE at < $1").bind(before).execute(&self.pool).await?;
                Ok(done.rows_affected())
            }
        }
    };
}

pub(super) use audit_store;
