//! The multipart operations but the completion (`complete.rs`): CreateMultipartUpload,
//! UploadPart (a part received and checked like a PUT), AbortMultipartUpload, ListParts and
//! ListMultipartUploads.

use std::io;

use s3s::dto::{
    AbortMultipartUploadInput, AbortMultipartUploadOutput, ChecksumAlgorithm, CreateMultipartUploadInput,
    CreateMultipartUploadOutput, ListMultipartUploadsInput, ListMultipartUploadsOutput, ListPartsInput,
    ListPartsOutput, MultipartUpload, Part, UploadPartInput, UploadPartOutput,
};
use s3s::{S3Request, S3Response, S3Result, s3_error};

use super::output::{max_keys, size_i64};
use super::receive::announced;
use crate::store::{Commit, FsStore, Record, UploadInfo, blocking, internal, now_ms, part_path, read_parts, timestamp};

pub(super) async fn create_multipart_upload(
    store: &FsStore,
    req: S3Request<CreateMultipartUploadInput>,
) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
    let input = req.input;
    store.existing_bucket(&input.bucket).await?;
    let info = UploadInfo {
        bucket: input.bucket.clone(),
        key: input.key.clone(),
        content_type: input.content_type,
        checksum_algorithm: input.checksum_algorithm.as_ref().map(|a| a.as_str().to_owned()),
        initiated_ms: now_ms(),
    };
    let store = store.clone();
    let upload_id =
        blocking(move || store.create_upload(&info).map_err(|e| internal(e, "cannot create the upload"))).await?;
    Ok(S3Response::new(CreateMultipartUploadOutput {
        bucket: Some(input.bucket),
        key: Some(input.key),
        upload_id: Some(upload_id),
        checksum_algorithm: input.checksum_algorithm,
        ..Default::default()
    }))
}

pub(super) async fn upload_part(
    store: &FsStore,
    req: S3Request<UploadPartInput>,
) -> S3Result<S3Response<UploadPartOutput>> {
    let S3Request { input, headers, trailing_headers, .. } = req;
    let n = input.part_number;
    if !(1..=10_000).contains(&n) {
        return Err(s3_error!(InvalidArgument, "part numbers are 1 to 10000"));
    }
    let (dir, _) = store.upload_of(&input.upload_id, &input.bucket, &input.key).await?;
    let check = store.receive(input.body, announced!(input), &headers, trailing_headers.as_ref()).await?;
    let key = input.key;
    let record = blocking(move || {
        let (mut tmp, record) = check(&key)?;
        tmp.append_record(&record).map_err(|e| internal(e, "cannot write the part"))?;
        // The upload directory is never re-created: gone means completed or aborted.
        tmp.commit(&part_path(&dir, n), Commit::Replace, false).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                s3_error!(NoSuchUpload, "the upload was completed or aborted")
            } else {
                internal(e, "cannot store the part")
            }
        })?;
        Ok(record)
    })
    .await?;
    let mut output = UploadPartOutput { e_tag: Some(record.e_tag()), ..Default::default() };
    output.checksum_sha256 = record.sha256_base64();
    output.checksum_crc32 = record.crc32;
    output.checksum_crc32c = record.crc32c;
    output.checksum_sha1 = record.sha1;
    output.checksum_crc64nvme = record.crc64nvme;
    Ok(S3Response::new(output))
}

pub(super) async fn abort_multipart_upload(
    store: &FsStore,
    req: S3Request<AbortMultipartUploadInput>,
) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
    let input = req.input;
    let (dir, _) = store.upload_of(&input.upload_id, &input.bucket, &input.key).await?;
    blocking(move || std::fs::remove_dir_all(&dir).map_err(|e| internal(e, "cannot remove the upload"))).await?;
    Ok(S3Response::new(AbortMultipartUploadOutput::default()))
}

pub(super) async fn list_parts(
    store: &FsStore,
    req: S3Request<ListPartsInput>,
) -> S3Result<S3Response<ListPartsOutput>> {
    let input = req.input;
    let (dir, info) = store.upload_of(&input.upload_id, &input.bucket, &input.key).await?;
    let parts = blocking(move || read_parts(&dir).map_err(|e| internal(e, "cannot list the parts"))).await?;
    let marker = input.part_number_marker.unwrap_or(0);
    let max = max_keys(input.max_parts);
    let mut parts: Vec<(i32, Record)> = parts.into_iter().filter(|(n, _)| *n > marker).collect();
    let truncated = parts.len() > max;
    parts.truncate(max);
    let next = parts.last().map(|(n, _)| *n).filter(|_| truncated);
    let parts = parts
        .into_iter()
        .map(|(n, record)| Part {
            part_number: Some(n),
            e_tag: Some(record.e_tag()),
            size: Some(size_i64(record.size)),
            last_modified: Some(record.last_modified()),
            checksum_sha256: record.sha256_base64(),
            checksum_crc32: record.crc32,
            checksum_crc32c: record.crc32c,
            checksum_sha1: record.sha1,
            checksum_crc64nvme: record.crc64nvme,
        })
        .collect();
    Ok(S3Response::new(ListPartsOutput {
        bucket: Some(input.bucket),
        key: Some(input.key),
        upload_id: Some(input.upload_id),
        parts: Some(parts),
        is_truncated: Some(truncated),
        next_part_number_marker: next,
        part_number_marker: input.part_number_marker,
        max_parts: Some(i32::try_from(max).unwrap_or(i32::MAX)),
        checksum_algorithm: info.checksum_algorithm.map(ChecksumAlgorithm::from),
        ..Default::default()
    }))
}

pub(super) async fn list_multipart_uploads(
    store: &FsStore,
    req: S3Request<ListMultipartUploadsInput>,
) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
    let input = req.input;
    store.existing_bucket(&input.bucket).await?;
    let store = store.clone();
    let uploads = blocking(move || store.uploads().map_err(|e| internal(e, "cannot list uploads"))).await?;
    let prefix = input.prefix.as_deref().unwrap_or("");
    let mut uploads: Vec<(String, UploadInfo)> =
        uploads.into_iter().filter(|(_, u)| u.bucket == input.bucket && u.key.starts_with(prefix)).collect();
    uploads.sort_by(|a, b| (&a.1.key, a.1.initiated_ms).cmp(&(&b.1.key, b.1.initiated_ms)));
    let uploads = uploads
        .into_iter()
        .map(|(id, info)| MultipartUpload {
            key: Some(info.key),
            upload_id: Some(id),
            initiated: Some(timestamp(info.initiated_ms)),
            checksum_algorithm: info.checksum_algorithm.map(ChecksumAlgorithm::from),
            ..Default::default()
        })
        .collect();
    Ok(S3Response::new(ListMultipartUploadsOutput {
        bucket: Some(input.bucket),
        prefix: input.prefix,
        uploads: Some(uploads),
        is_truncated: Some(false),
        ..Default::default()
    }))
}
