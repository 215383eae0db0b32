//! What rate limiting sees of the metadata store: hit counts per key and window, shared by
//! every server; and the macro that implements it for both stores.

use std::collections::HashMap;

use super::error::DbResult;
use super::models::RateWindow;

/// Rate limits: fixed windows per key, counted in the store so every server sees each hit.
#[async_trait::async_trait]
pub trait RateLimitStore: Send + Sync {
    /// How many hits each of `keys` took in its current window (one that started after
    /// `window_after`), and when that window started; keys without one are left out.
    async fn rate_counts(&self, keys: &[&str], window_after: i64) -> DbResult<HashMap<String, RateWindow>>;
    /// Counts a hit on `key`: in its current window, or in a new one from now when the last
    /// started at or before `window_after`. Answers the window's count and when it started.
    async fn rate_hit(&self, key: &str, window_after: i64) -> DbResult<RateWindow>;
    /// Takes back a hit on `key` (an attempt that turned out fine).
    async fn rate_release(&self, key: &str) -> DbResult<()>;
    /// Forgets windows that started at or before `before`.
    async fn forget_rate_windows(&self, before: i64) -> DbResult<u64>;
}

/// Expands to `impl RateLimitStore for $store`, its queries written once for both stores.
/// `$store` has a `pool: sqlx::Pool<$db>` (`$db`: `sqlx::Sqlite` or `sqlx::Postgres`); names
/// the query needs (rows, columns, models) are those in scope where it expands.
macro_rules! rate_limit_store {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl RateLimitStore for $store {
            async fn rate_counts(&self, keys: &[&str], window_after: i64) -> DbResult<HashMap<String, RateWindow>> {
                if keys.is_empty() {
                    return Ok(HashMap::new());
                }
                let mut q: QueryBuilder<$db> = QueryBuilder::new("SELECT key, count, window_start FROM rate_limits WHERE window_start > ");
                q.push_bind(window_after).push(" AND key IN (");
                let mut list = q.separated(", ");
                for key in keys {
                    list.push_bind(*key);
                }
                q.push(")");
                let rows: Vec<(String, i64, i64)> = q.build_query_as().fetch_all(&self.pool).await?;
                Ok(rows.into_iter().map(|(key, count, started)| (key, RateWindow { count, started })).collect())
            }

            async fn rate_hit(&self, key: &str, window_after: i64) -> DbResult<RateWindow> {
                let (count, started) = sqlx::query_as(
                    "INSERT INTO rate_limits (key, window_start, count) VALUES ($1, $2, 1)
                     ON CONFLICT (key) DO UPDATE SET
                         count = CASE WHEN rate_limits.window_start <= $3 THEN 1 ELSE rate_limits.count + 1 END,
                         window_start = CASE WHEN rate_limits.window_start <= $3 THEN $2 ELSE rate_limits.window_start END
                     RETURNING count, window_start",
                )
                .bind(key)
                .bind(now())
                .bind(window_after)
                .fetch_one(&self.pool)
                .await?;
                Ok(RateWindow { count, started })
            }

            async fn rate_release(&self, key: &str) -> DbResult<()> {
                sqlx::query("UPDATE rate_limits SET count = count - 1 WHERE key = $1 AND count > 0")
                    .bind(key)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn forget_rate_windows(&self, before: i64) -> DbResult<u64> {
                let done = sqlx::query("DELETE FROM rate_limits WHERE window_start <= $1").bind(before).execute(&self.pool).await?;
                Ok(done.rows_affected())
            }
        }
    };
}

pub(super) use rate_limit_store;
