//! How a write commits: `If-None-Match: *` as a create-only commit, refused early when the
//! object exists, and the commit's errors as S3's.

use std::io;
use std::path::Path;

use s3s::dto::ETagCondition;
use s3s::{S3Error, S3Result, s3_error};

use crate::store::{Commit, internal};

fn exists_error() -> S3Error {
    s3_error!(PreconditionFailed, "the object already exists (If-None-Match: *)")
}

/// How a write with these conditions commits.
pub(super) fn write_mode(if_none_match: Option<&ETagCondition>, if_match: Option<&ETagCondition>) -> S3Result<Commit> {
    if if_match.is_some() {
        return Err(s3_error!(NotImplemented, "If-Match is not supported on writes"));
    }
    match if_none_match {
        None => Ok(Commit::Replace),
        Some(condition) if condition.is_any() => Ok(Commit::CreateOnly),
        Some(_) => Err(s3_error!(NotImplemented, "only If-None-Match: * is supported on writes")),
    }
}

pub(super) fn commit_error(e: io::Error) -> S3Error {
    if e.kind() == io::ErrorKind::AlreadyExists { exists_error() } else { internal(e, "cannot store the object") }
}

/// Refuses before reading the body when the object exists; the commit's link decides anyway.
pub(super) async fn refuse_existing(path: &Path) -> S3Result<()> {
    match tokio::fs::try_exists(path).await {
        Ok(true) => Err(exists_error()),
        Ok(false) => Ok(()),
        Err(e) => Err(internal(e, "cannot read the object")),
    }
}
