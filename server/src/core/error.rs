//! The core's errors: each with a message a user can read; internal causes are logged where
//! they happen.

use crate::domain::InvalidInput;
use crate::storage::StorageError;
use vitrine_store::DbError;

/// Errors with public messages; internal causes are logged where they happen.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// A store this server needs is not answering; may work again soon.
    #[error("{0}")]
    Unavailable(String),
    /// Refused for now; may succeed after `retry_after` seconds.
    #[error("{message}")]
    TooManyRequests { message: String, retry_after: u64 },
    /// Heavy work of this kind is at its limit (see `untrusted`); may succeed after
    /// `retry_after` seconds.
    #[error("{message}")]
    Busy { message: String, retry_after: u64 },
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ServiceError {
    pub fn project_not_found() -> Self {
        ServiceError::NotFound("Project not found".into())
    }

    pub fn build_not_found() -> Self {
        ServiceError::NotFound("Build not found".into())
    }

    pub fn internal(e: impl Into<anyhow::Error>) -> Self {
        ServiceError::Internal(e.into())
    }
}

impl From<InvalidInput> for ServiceError {
    fn from(e: InvalidInput) -> Self {
        ServiceError::BadRequest(e.0)
    }
}

impl From<DbError> for ServiceError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Busy(cause) => {
                tracing::warn!(%cause, "metadata store busy");
                ServiceError::Unavailable("The metadata database is busy; try again in a moment.".into())
            }
            e => ServiceError::Internal(e.into()),
        }
    }
}

impl From<StorageError> for ServiceError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::NotFound => ServiceError::Internal(e.into()),
            StorageError::S3(cause) => {
                tracing::error!(%cause, "S3 store call failed");
                ServiceError::Unavailable(
                    "The artifact store (S3) is not answering; try again shortly. The server's log has the cause."
                        .into(),
                )
            }
        }
    }
}

pub type ServiceResult<T> = Result<T, ServiceError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_metadata_store_is_a_503_not_a_500() {
        let busy: ServiceError = DbError::Busy(sqlx::Error::PoolTimedOut).into();
        assert!(matches!(busy, ServiceError::Unavailable(_)), "{busy:?}");
        let other: ServiceError = DbError::Other(sqlx::Error::PoolClosed).into();
        assert!(matches!(other, ServiceError::Internal(_)), "{other:?}");
    }
}
