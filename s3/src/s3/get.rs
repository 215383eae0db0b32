//! HeadObject and GetObject: an object's facts, and its bytes (whole or a range) streamed from
//! the file opened once, so a read racing a replace or a delete sees one whole version.

use std::io;

use s3s::dto::{ETagCondition, GetObjectInput, GetObjectOutput, HeadObjectInput, HeadObjectOutput, StreamingBlob};
use s3s::{S3Request, S3Response, S3Result, s3_error};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use super::output::{set_checksums, size_i64};
use crate::store::{FsStore, Record, internal};

/// Reads of a GET: large enough that a GiB is a few thousand blocking reads.
const READ_CHUNK: usize = 256 << 10;

fn check_conditions(
    record: &Record,
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
) -> S3Result<()> {
    let matches = |c: &ETagCondition| c.is_any() || c.as_etag().is_some_and(|e| e.value() == record.etag);
    if if_match.is_some_and(|c| !matches(c)) {
        return Err(s3_error!(PreconditionFailed, "If-Match does not match"));
    }
    if if_none_match.is_some_and(matches) {
        return Err(s3_error!(NotModified));
    }
    Ok(())
}

fn content_range(range: &std::ops::Range<u64>, size: u64) -> String {
    format!("bytes {}-{}/{size}", range.start, range.end - 1)
}

pub(super) async fn head_object(
    store: &FsStore,
    req: S3Request<HeadObjectInput>,
) -> S3Result<S3Response<HeadObjectOutput>> {
    let input = req.input;
    let (_, record) = store.find(&input.bucket, &input.key).await?;
    check_conditions(&record, input.if_match.as_ref(), input.if_none_match.as_ref())?;
    let mut output = HeadObjectOutput {
        content_length: Some(size_i64(record.size)),
        content_type: Some(record.content_type.clone().unwrap_or_else(|| "application/octet-stream".into())),
        e_tag: Some(record.e_tag()),
        last_modified: Some(record.last_modified()),
        accept_ranges: Some("bytes".into()),
        ..Default::default()
    };
    set_checksums!(output, &record);
    Ok(S3Response::new(output))
}

pub(super) async fn get_object(
    store: &FsStore,
    req: S3Request<GetObjectInput>,
) -> S3Result<S3Response<GetObjectOutput>> {
    let input = req.input;
    let (file, record) = store.find(&input.bucket, &input.key).await?;
    check_conditions(&record, input.if_match.as_ref(), input.if_none_match.as_ref())?;
    let range = match &input.range {
        Some(range) => range.check(record.size)?,
        None => 0..record.size,
    };
    let mut file = tokio::fs::File::from_std(file);
    if range.start > 0 {
        file.seek(io::SeekFrom::Start(range.start)).await.map_err(|e| internal(e, "cannot read the object"))?;
    }
    let body = ReaderStream::with_capacity(file.take(range.end - range.start), READ_CHUNK);
    let mut output = GetObjectOutput {
        body: Some(StreamingBlob::wrap(body)),
        content_length: Some(size_i64(range.end - range.start)),
        // `response-content-type` and `-disposition` overrides are applied by s3s.
        content_type: Some(record.content_type.clone().unwrap_or_else(|| "application/octet-stream".into())),
        e_tag: Some(record.e_tag()),
        last_modified: Some(record.last_modified()),
        accept_ranges: Some("bytes".into()),
        ..Default::default()
    };
    if input.range.is_some() {
        // A checksum describes the whole object, not a range of it (S3 omits it too).
        output.content_range = Some(content_range(&range, record.size));
    } else {
        set_checksums!(output, &record);
    }
    Ok(S3Response::new(output))
}
