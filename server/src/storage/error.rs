//! The storage layer's errors: an object that is not there, or the S3 service failing.

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("object not found")]
    NotFound,
    #[error("S3 request failed: {0}")]
    S3(String),
}

pub type StorageResult<T> = Result<T, StorageError>;

pub(super) fn s3_err<E: std::fmt::Debug>(e: E) -> StorageError {
    StorageError::S3(format!("{e:?}"))
}
