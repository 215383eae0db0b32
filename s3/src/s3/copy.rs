//! CopyObject: another object's bytes and record under a new key, its content type kept or
//! replaced, held to the copy-source conditions.

use std::io::{self, Read};

use s3s::dto::{CopyObjectInput, CopyObjectOutput, CopyObjectResult, CopySource, ETagCondition, MetadataDirective};
use s3s::{S3Request, S3Response, S3Result, s3_error};

use super::output::set_checksums;
use super::write::{commit_error, refuse_existing, write_mode};
use crate::store::{Commit, FsStore, Record, blocking, now_ms};

pub(super) async fn copy_object(
    store: &FsStore,
    req: S3Request<CopyObjectInput>,
) -> S3Result<S3Response<CopyObjectOutput>> {
    let S3Request { input, headers, .. } = req;
    let CopySource::Bucket { bucket: src_bucket, key: src_key, .. } = &input.copy_source else {
        return Err(s3_error!(NotImplemented, "only bucket copy sources are supported"));
    };
    // s3s does not parse If-None-Match for CopyObject: read the header.
    let if_none_match = headers
        .get(http::header::IF_NONE_MATCH)
        .map(|v| ETagCondition::parse_http_header(v.as_bytes()))
        .transpose()
        .map_err(|_| s3_error!(InvalidArgument, "invalid If-None-Match"))?;
    let if_match = headers
        .get(http::header::IF_MATCH)
        .map(|v| ETagCondition::parse_http_header(v.as_bytes()))
        .transpose()
        .map_err(|_| s3_error!(InvalidArgument, "invalid If-Match"))?;
    let mode = write_mode(if_none_match.as_ref(), if_match.as_ref())?;
    store.existing_bucket(&input.bucket).await?;
    let dest = store.object_path(&input.bucket, &input.key)?;
    if mode == Commit::CreateOnly {
        refuse_existing(&dest).await?;
    }
    let (src_file, src_record) = store.find(src_bucket, src_key).await?;
    if let Some(condition) = &input.copy_source_if_match
        && !condition.is_any()
        && condition.as_etag().is_none_or(|e| e.value() != src_record.etag)
    {
        return Err(s3_error!(PreconditionFailed, "x-amz-copy-source-if-match does not match"));
    }
    if let Some(condition) = &input.copy_source_if_none_match
        && (condition.is_any() || condition.as_etag().is_some_and(|e| e.value() == src_record.etag))
    {
        return Err(s3_error!(PreconditionFailed, "x-amz-copy-source-if-none-match matches"));
    }
    let replace = input.metadata_directive.as_ref().is_some_and(|d| d.as_str() == MetadataDirective::REPLACE);
    let content_type = if replace { input.content_type } else { src_record.content_type.clone() };
    let (store, key) = (store.clone(), input.key);
    let record = blocking(move || {
        let copy = || -> io::Result<Record> {
            let mut tmp = store.temp()?;
            let copied = io::copy(&mut Read::take(&src_file, src_record.size), &mut tmp.file)?;
            if copied != src_record.size {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "source object ended early"));
            }
            let record = Record { key, content_type, modified_ms: now_ms(), ..src_record };
            tmp.append_record(&record)?;
            tmp.commit(&dest, mode, true)?;
            Ok(record)
        };
        copy().map_err(commit_error)
    })
    .await?;
    let mut result = CopyObjectResult {
        e_tag: Some(record.e_tag()),
        last_modified: Some(record.last_modified()),
        ..Default::default()
    };
    set_checksums!(result, &record);
    Ok(S3Response::new(CopyObjectOutput { copy_object_result: Some(result), ..Default::default() }))
}
