//! The store's filesystem primitives: private directories, I/O errors answered as S3 errors,
//! and filesystem work run on the blocking pool.

use std::fs::DirBuilder;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

use s3s::{S3Error, S3Result, s3_error};

pub(super) fn mkdir(path: &Path, recursive: bool) -> io::Result<()> {
    DirBuilder::new().recursive(recursive).mode(0o700).create(path)
}

/// Maps a filesystem error to a 500 for the client and logs the details here.
pub(crate) fn internal(e: io::Error, what: &str) -> S3Error {
    tracing::error!(error = %e, "embedded S3: {what}");
    s3_error!(InternalError, "{what}: {}", e.kind())
}

/// Runs filesystem work on the blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> S3Result<T> + Send + 'static) -> S3Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(S3Error::internal_error)?
}
