//! CompleteMultipartUpload: the listed parts checked against what was uploaded, concatenated
//! into one object (ETag and composite SHA-256 as S3 makes them), committed, and the upload's
//! directory removed.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use s3s::dto::{CompleteMultipartUploadInput, CompleteMultipartUploadOutput, CompletedPart};
use s3s::{S3Request, S3Response, S3Result, s3_error};
use sha2::{Digest, Sha256};

use super::output::set_checksums;
use super::receive::same_base64;
use super::write::{commit_error, refuse_existing, write_mode};
use crate::store::{
    Algorithm, Commit, FsStore, Record, TempFile, blocking, copy_hashing, internal, now_ms, part_path, read_record,
};

/// S3's rule: every part but the last is at least 5 MiB.
const MIN_PART_SIZE: u64 = 5 << 20;

pub(super) async fn complete_multipart_upload(
    store: &FsStore,
    req: S3Request<CompleteMultipartUploadInput>,
) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
    let input = req.input;
    let mode = write_mode(input.if_none_match.as_ref(), input.if_match.as_ref())?;
    let parts = input.multipart_upload.and_then(|m| m.parts).unwrap_or_default();
    if parts.is_empty() {
        return Err(s3_error!(MalformedXML, "you must specify at least one part"));
    }
    let dest = store.object_path(&input.bucket, &input.key)?;
    if mode == Commit::CreateOnly {
        refuse_existing(&dest).await?;
    }
    let (dir, info) = store.upload_of(&input.upload_id, &input.bucket, &input.key).await?;
    let (store, key, whole_sha256) = (store.clone(), input.key.clone(), input.checksum_sha256);
    let record = blocking(move || {
        let files = open_parts(&dir, &parts)?;
        let (mut tmp, record, composite) =
            assemble(&store, key, info.content_type, &files).map_err(|e| internal(e, "cannot assemble the object"))?;
        check_whole_sha256(whole_sha256.as_deref(), &record, &composite)?;
        tmp.append_record(&record).map_err(|e| internal(e, "cannot write the object"))?;
        tmp.commit(&dest, mode, true).map_err(commit_error)?;
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            tracing::warn!(error = %e, "embedded S3: cannot remove a completed upload's parts");
        }
        Ok(record)
    })
    .await?;
    let mut output = CompleteMultipartUploadOutput {
        bucket: Some(input.bucket),
        key: Some(input.key),
        e_tag: Some(record.e_tag()),
        ..Default::default()
    };
    set_checksums!(output, &record);
    Ok(S3Response::new(output))
}

/// The listed parts' files and records, in the order listed (ascending part numbers), each the
/// part the client describes; every part but the last has at least 5 MiB (blocking).
fn open_parts(dir: &Path, parts: &[CompletedPart]) -> S3Result<Vec<(File, Record)>> {
    let mut files = Vec::with_capacity(parts.len());
    let mut previous = 0;
    for (i, part) in parts.iter().enumerate() {
        let n = part.part_number.ok_or_else(|| s3_error!(InvalidPart, "a part has no PartNumber"))?;
        if n <= previous {
            return Err(s3_error!(InvalidPartOrder, "parts must be listed in ascending order"));
        }
        previous = n;
        let (file, record) = open_part(dir, part, n)?;
        if i + 1 < parts.len() && record.size < MIN_PART_SIZE {
            return Err(s3_error!(
                EntityTooSmall,
                "part {n} has {} bytes; every part but the last needs at least 5 MiB",
                record.size
            ));
        }
        files.push((file, record));
    }
    Ok(files)
}

/// Part `n`'s file and record, checked against the ETag and checksums the client gave for it
/// (blocking).
fn open_part(dir: &Path, part: &CompletedPart, n: i32) -> S3Result<(File, Record)> {
    let file = match File::open(part_path(dir, n)) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(s3_error!(InvalidPart, "part {n} was not uploaded"));
        }
        Err(e) => return Err(internal(e, "cannot read a part")),
    };
    let record = read_record(&file).map_err(|e| internal(e, "damaged part"))?;
    if part.e_tag.as_ref().is_none_or(|e| e.value() != record.etag) {
        return Err(s3_error!(InvalidPart, "the ETag of part {n} does not match the uploaded part"));
    }
    check_part_checksums(part, n, &record)?;
    Ok((file, record))
}

/// A checksum given for a part in CompleteMultipartUpload must be the part's.
fn check_part_checksums(part: &CompletedPart, n: i32, record: &Record) -> S3Result<()> {
    let given = [
        (Algorithm::Crc32, &part.checksum_crc32, &record.crc32),
        (Algorithm::Crc32c, &part.checksum_crc32c, &record.crc32c),
        (Algorithm::Sha1, &part.checksum_sha1, &record.sha1),
        (Algorithm::Crc64Nvme, &part.checksum_crc64nvme, &record.crc64nvme),
    ];
    for (algorithm, sent, stored) in given {
        let Some(sent) = sent else { continue };
        let name = algorithm.header();
        let stored = stored.as_ref().ok_or_else(|| s3_error!(InvalidPart, "part {n} was uploaded without {name}"))?;
        if !same_base64(sent, stored) {
            return Err(s3_error!(InvalidPart, "{name} of part {n} does not match the uploaded part"));
        }
    }
    if let Some(sent) = &part.checksum_sha256
        && !record.sha256_base64().is_some_and(|stored| same_base64(sent, &stored))
    {
        return Err(s3_error!(InvalidPart, "x-amz-checksum-sha256 of part {n} does not match the uploaded part"));
    }
    Ok(())
}

/// The parts' bytes copied one after the other into a temp file, with the object's record
/// (ETag `<hex>-<parts>`, from the parts' ETags) and S3's composite SHA-256 (of the parts'
/// SHA-256, `<base64>-<parts>`) to check a client's whole-upload one against (blocking).
fn assemble(
    store: &FsStore,
    key: String,
    content_type: Option<String>,
    files: &[(File, Record)],
) -> io::Result<(TempFile, Record, String)> {
    let mut tmp = store.temp()?;
    let (mut sha256, mut etags, mut composite) = (Sha256::new(), Sha256::new(), Sha256::new());
    let mut size = 0;
    for (file, part) in files {
        copy_hashing(&mut Read::take(file, part.size), &mut tmp.file, part.size, &mut sha256)?;
        etags.update(part.etag.as_bytes());
        composite.update(hex::decode(&part.sha256).map_err(io::Error::other)?);
        size += part.size;
    }
    let count = files.len();
    let record = Record {
        key,
        size,
        etag: format!("{}-{count}", hex::encode(&etags.finalize()[..16])),
        sha256: hex::encode(sha256.finalize()),
        crc32: None,
        crc32c: None,
        sha1: None,
        crc64nvme: None,
        content_type,
        modified_ms: now_ms(),
        parts: u32::try_from(count).ok(),
    };
    // S3's composite SHA-256 (of the parts' SHA-256), to check a client's whole-upload one.
    let composite = format!("{}-{count}", B64.encode(composite.finalize()));
    Ok((tmp, record, composite))
}

/// A whole-upload x-amz-checksum-sha256, if the client sent one, must be the assembled
/// object's: S3's composite one (`<base64>-<parts>`) or that of the whole object.
fn check_whole_sha256(sent: Option<&str>, record: &Record, composite: &str) -> S3Result<()> {
    if let Some(sent) = sent {
        let ok = match sent.trim().split_once('-') {
            Some(_) => sent.trim() == composite,
            None => record.sha256_base64().is_some_and(|whole| same_base64(sent, &whole)),
        };
        if !ok {
            return Err(s3_error!(BadDigest, "x-amz-checksum-sha256 does not match the assembled object"));
        }
    }
    Ok(())
}
