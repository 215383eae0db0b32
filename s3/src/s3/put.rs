//! PutObject: the body received and checked, then committed as the object (replacing it, or
//! only creating it under `If-None-Match: *`).

use s3s::dto::{PutObjectInput, PutObjectOutput};
use s3s::{S3Request, S3Response, S3Result};

use super::output::{set_checksums, size_i64};
use super::receive::announced;
use super::write::{commit_error, refuse_existing, write_mode};
use crate::store::{Commit, FsStore, blocking, internal};

pub(super) async fn put_object(
    store: &FsStore,
    req: S3Request<PutObjectInput>,
) -> S3Result<S3Response<PutObjectOutput>> {
    let S3Request { input, headers, trailing_headers, .. } = req;
    let mode = write_mode(input.if_none_match.as_ref(), input.if_match.as_ref())?;
    store.existing_bucket(&input.bucket).await?;
    let dest = store.object_path(&input.bucket, &input.key)?;
    if mode == Commit::CreateOnly {
        refuse_existing(&dest).await?;
    }
    let check = store.receive(input.body, announced!(input), &headers, trailing_headers.as_ref()).await?;
    let (key, content_type) = (input.key, input.content_type);
    let record = blocking(move || {
        let (mut tmp, mut record) = check(&key)?;
        record.content_type = content_type;
        tmp.append_record(&record).map_err(|e| internal(e, "cannot write the object"))?;
        tmp.commit(&dest, mode, true).map_err(commit_error)?;
        Ok(record)
    })
    .await?;

    let mut output =
        PutObjectOutput { e_tag: Some(record.e_tag()), size: Some(size_i64(record.size)), ..Default::default() };
    set_checksums!(output, &record);
    Ok(S3Response::new(output))
}
