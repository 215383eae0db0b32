//! The store's errors: every failure is one of [`DbError`]'s kinds, told apart where sqlx
//! answers it, and counted by kind.

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
    pub(super) fn from_sqlx(e: sqlx::Error) -> Self {
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

#[cfg(test)]
mod tests {
    use sqlx::Connection;
    use sqlx::sqlite::SqliteConnectOptions;

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
}
