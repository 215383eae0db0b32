//! What the servers of one installation share through the metadata store: keys, the
//! sweeper's lock, the store's own health; and the macro that implements it for both stores.

use super::error::DbResult;

/// Held while one server does background work that the others skip meanwhile.
pub struct SweepLock(#[allow(dead_code)] pub(super) Box<dyn Send>);

/// What servers share: keys every server uses, and work one server does at a time.
#[async_trait::async_trait]
pub trait ServerStore: Send + Sync {
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

/// Expands to `impl ServerStore for $store`, its queries written once for both stores.
/// `$store` has a `pool: sqlx::Pool<$db>` (`$db`: `sqlx::Sqlite` or `sqlx::Postgres`); names
/// the query needs (rows, columns, models) are those in scope where it expands.
/// `extra` holds the methods each store writes in its own SQL (`try_lock_sweeper`).
macro_rules! server_store {
    ($store:ty, $db:ty, { $($extra:tt)* }) => {
        #[async_trait::async_trait]
        impl ServerStore for $store {
            $($extra)*

            async fn shared_key(&self, name: &str, fresh: &[u8]) -> DbResult<Vec<u8>> {
                sqlx::query("INSERT INTO server_keys (name, key, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
                    .bind(name)
                    .bind(fresh)
                    .bind(now())
                    .execute(&self.pool)
                    .await?;
                self.read_shared_key(name).await
            }

            async fn read_shared_key(&self, name: &str) -> DbResult<Vec<u8>> {
                sqlx::query_scalar("SELECT key FROM server_keys WHERE name = $1")
                    .bind(name)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(DbError::from_sqlx)
            }

            async fn replace_shared_key(&self, name: &str, key: &[u8]) -> DbResult<()> {
                let done = sqlx::query("UPDATE server_keys SET key = $1, created_at = $2 WHERE name = $3")
                    .bind(key)
                    .bind(now())
                    .bind(name)
                    .execute(&self.pool)
                    .await?;
                if done.rows_affected() == 0 {
                    sqlx::query("INSERT INTO server_keys (name, key, created_at) VALUES ($1, $2, $3)")
                        .bind(name)
                        .bind(key)
                        .bind(now())
                        .execute(&self.pool)
                        .await?;
                }
                Ok(())
            }

            async fn ping(&self) -> DbResult<()> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }
        }
    };
}

pub(super) use server_store;
