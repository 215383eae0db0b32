//! `s3s::S3` for [`FsStore`]: the S3 operations Vitrine and common clients (aws-sdk-s3, s5cmd,
//! awscli) use, mapped onto the store's files. Every write is refused, leaving nothing behind,
//! unless its length and every checksum the client sent match. Other operations answer s3s's
//! NotImplemented.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD};
use http::HeaderMap;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
#[allow(clippy::wildcard_imports)] // the S3 operations' inputs and outputs, by the dozen
use s3s::dto::*;
use s3s::{S3, S3Error, S3Request, S3Response, S3Result, TrailingHeaders, s3_error};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use super::store::{
    Algorithm, Commit, Digests, FsStore, Hashers, Record, Spool, TempFile, UploadInfo, blocking, copy_hashing,
    internal, now_ms, part_path, read_parts, read_record, timestamp,
};

/// S3's rule: every part but the last is at least 5 MiB.
const MIN_PART_SIZE: u64 = 5 << 20;
const MAX_KEYS: usize = 1000;
/// Reads of a GET: large enough that a GiB is a few thousand blocking reads.
const READ_CHUNK: usize = 256 << 10;
/// `encoding-type=url`: like S3, everything but unreserved characters and `/`.
const URL_ENCODE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~').remove(b'/');

/// Sets the checksum fields of an output from a record: SHA-256 always (Vitrine verifies
/// uploads with it), plus the client's own checksums.
macro_rules! set_checksums {
    ($output:expr, $record:expr) => {{
        let record: &Record = $record;
        $output.checksum_sha256 = record.sha256_base64();
        $output.checksum_crc32 = record.crc32.clone();
        $output.checksum_crc32c = record.crc32c.clone();
        $output.checksum_sha1 = record.sha1.clone();
        $output.checksum_crc64nvme = record.crc64nvme.clone();
        $output.checksum_type = Some(ChecksumType::from_static(ChecksumType::FULL_OBJECT));
    }};
}

fn exists_error() -> S3Error {
    s3_error!(PreconditionFailed, "the object already exists (If-None-Match: *)")
}

/// How a write with these conditions commits.
fn write_mode(if_none_match: Option<&ETagCondition>, if_match: Option<&ETagCondition>) -> S3Result<Commit> {
    if if_match.is_some() {
        return Err(s3_error!(NotImplemented, "If-Match is not supported on writes"));
    }
    match if_none_match {
        None => Ok(Commit::Replace),
        Some(condition) if condition.is_any() => Ok(Commit::CreateOnly),
        Some(_) => Err(s3_error!(NotImplemented, "only If-None-Match: * is supported on writes")),
    }
}

fn commit_error(e: io::Error) -> S3Error {
    if e.kind() == io::ErrorKind::AlreadyExists { exists_error() } else { internal(e, "cannot store the object") }
}

/// Refuses before reading the body when the object exists; the commit's link decides anyway.
async fn refuse_existing(path: &Path) -> S3Result<()> {
    match tokio::fs::try_exists(path).await {
        Ok(true) => Err(exists_error()),
        Ok(false) => Ok(()),
        Err(e) => Err(internal(e, "cannot read the object")),
    }
}

/// Checksums a client sent (base64), to compare with what the bytes hash to.
type Claims = Vec<(Algorithm, String)>;

/// The checksums a client sent in headers, and every algorithm to compute: those plus the one
/// named by `x-amz-sdk-checksum-algorithm` and those announced for an aws-chunked trailer.
fn announced_claims(
    values: [(Algorithm, &Option<String>); 5],
    algorithm: Option<&ChecksumAlgorithm>,
    headers: &HeaderMap,
) -> S3Result<(Claims, Vec<Algorithm>)> {
    let claims: Claims = values.iter().filter_map(|(a, v)| v.as_ref().map(|v| (*a, v.clone()))).collect();
    let mut algorithms: Vec<Algorithm> = claims.iter().map(|(a, _)| *a).collect();
    if let Some(algorithm) = algorithm {
        let name = algorithm.as_str();
        algorithms.push(
            Algorithm::from_name(name)
                .ok_or_else(|| s3_error!(InvalidArgument, "unknown checksum algorithm {name}"))?,
        );
    }
    for value in headers.get_all("x-amz-trailer") {
        let value = value.to_str().map_err(|_| s3_error!(InvalidArgument, "invalid x-amz-trailer"))?;
        algorithms.extend(value.split(',').filter_map(Algorithm::from_header));
    }
    Ok((claims, algorithms))
}

/// Checksums that came in an aws-chunked trailer, available once the body was read.
/// What a PUT or UploadPart input announced about its body (the two inputs share field names,
/// not a type).
macro_rules! announced {
    ($input:expr) => {
        Announced {
            checksums: [
                (Algorithm::Crc32, &$input.checksum_crc32),
                (Algorithm::Crc32c, &$input.checksum_crc32c),
                (Algorithm::Sha1, &$input.checksum_sha1),
                (Algorithm::Sha256, &$input.checksum_sha256),
                (Algorithm::Crc64Nvme, &$input.checksum_crc64nvme),
            ],
            algorithm: $input.checksum_algorithm.as_ref(),
            content_md5: $input.content_md5.clone(),
            content_length: $input.content_length,
        }
    };
}

/// What a write (PUT or part) announced about its body.
struct Announced<'a> {
    checksums: [(Algorithm, &'a Option<String>); 5],
    algorithm: Option<&'a ChecksumAlgorithm>,
    content_md5: Option<String>,
    content_length: Option<i64>,
}

impl FsStore {
    /// Receives a write's body into a temp file, hashing it. Answers the check to run on the
    /// blocking pool: it refuses the bytes unless their length and every checksum announced
    /// (headers, aws-chunked trailers, Content-MD5) match, and otherwise yields the temp file
    /// and the record for `key` (not yet appended or committed).
    async fn receive(
        &self,
        body: Option<StreamingBlob>,
        announced: Announced<'_>,
        headers: &HeaderMap,
        trailers: Option<&TrailingHeaders>,
    ) -> S3Result<impl FnOnce(&str) -> S3Result<(TempFile, Record)> + Send + 'static> {
        let (mut claims, algorithms) = announced_claims(announced.checksums, announced.algorithm, headers)?;
        let hashers = Hashers::new(&algorithms, announced.content_md5.is_some());
        let limit = announced.content_length.and_then(|n| u64::try_from(n).ok());
        let spool = Spool::receive(self, body, hashers, limit).await?;
        claims.extend(trailer_claims(trailers)?);
        let (content_length, content_md5) = (announced.content_length, announced.content_md5);
        Ok(move |key: &str| {
            let (tmp, digests) = spool.finish()?;
            verify(&digests, &claims, content_length, content_md5.as_deref())?;
            let record = Record::new(key, &digests, digests.etag());
            Ok((tmp, record))
        })
    }
}

fn trailer_claims(trailers: Option<&TrailingHeaders>) -> S3Result<Claims> {
    let Some(map) = trailers.and_then(TrailingHeaders::take) else { return Ok(Vec::new()) };
    let mut claims = Vec::new();
    for algorithm in Algorithm::ALL {
        if let Some(value) = map.get(algorithm.header()) {
            let value = value.to_str().map_err(|_| s3_error!(InvalidArgument, "invalid {}", algorithm.header()))?;
            claims.push((algorithm, value.to_owned()));
        }
    }
    Ok(claims)
}

fn same_base64(a: &str, b: &str) -> bool {
    matches!((B64.decode(a.trim()), B64.decode(b.trim())), (Ok(x), Ok(y)) if x == y)
}

/// The body must have the announced length and match every checksum the client sent.
fn verify(
    digests: &Digests,
    claims: &[(Algorithm, String)],
    content_length: Option<i64>,
    content_md5: Option<&str>,
) -> S3Result<()> {
    if let Some(len) = content_length
        && u64::try_from(len).ok() != Some(digests.size)
    {
        return Err(s3_error!(IncompleteBody, "the body has {} bytes, Content-Length said {len}", digests.size));
    }
    if let Some(md5) = content_md5 {
        let sent = B64.decode(md5.trim()).map_err(|_| s3_error!(InvalidDigest, "Content-MD5 is not base64"))?;
        if digests.md5.is_none_or(|computed| computed[..] != sent[..]) {
            return Err(s3_error!(BadDigest, "Content-MD5 does not match the body"));
        }
    }
    for (algorithm, sent) in claims {
        let header = algorithm.header();
        let computed = digests
            .get(*algorithm)
            .ok_or_else(|| s3_error!(InvalidRequest, "{header} arrived in a trailer x-amz-trailer did not announce"))?;
        if !same_base64(sent, &computed) {
            return Err(s3_error!(BadDigest, "{header} does not match the body"));
        }
    }
    Ok(())
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

/// One page of a listing: objects and common prefixes, merged in key order.
#[derive(Default)]
struct Page {
    objects: Vec<Record>,
    prefixes: Vec<String>,
    truncated: bool,
    /// The last key or prefix listed, where the next page starts after.
    next: Option<String>,
}

fn paginate(mut records: Vec<Record>, prefix: &str, delimiter: Option<&str>, after: Option<&str>, max: usize) -> Page {
    let mut page = Page::default();
    if max == 0 {
        return page;
    }
    records.retain(|r| r.key.starts_with(prefix) && after.is_none_or(|a| r.key.as_str() > a));
    records.sort_unstable_by(|a, b| a.key.cmp(&b.key));
    let delimiter = delimiter.filter(|d| !d.is_empty());
    let mut count = 0;
    for record in records {
        let group = delimiter.and_then(|d| {
            record.key[prefix.len()..].find(d).map(|i| record.key[..prefix.len() + i + d.len()].to_owned())
        });
        if let Some(group) = &group {
            // Keys of a group are contiguous in key order: it was listed here or on an earlier page.
            if after.is_some_and(|a| group.as_str() <= a) || page.next.as_ref() == Some(group) {
                continue;
            }
        }
        if count == max {
            page.truncated = true;
            break;
        }
        count += 1;
        if let Some(group) = group {
            page.next = Some(group.clone());
            page.prefixes.push(group);
        } else {
            page.next = Some(record.key.clone());
            page.objects.push(record);
        }
    }
    if !page.truncated {
        page.next = None;
    }
    page
}

fn list_entry(record: Record, encode: &impl Fn(String) -> String) -> Object {
    Object {
        e_tag: Some(record.e_tag()),
        last_modified: Some(record.last_modified()),
        size: Some(i64::try_from(record.size).unwrap_or(i64::MAX)),
        storage_class: Some(ObjectStorageClass::from_static(ObjectStorageClass::STANDARD)),
        key: Some(encode(record.key)),
        ..Default::default()
    }
}

fn url_encoder(encoding: Option<&EncodingType>) -> impl Fn(String) -> String + use<> {
    let url = encoding.is_some_and(|e| e.as_str() == EncodingType::URL);
    move |s: String| if url { utf8_percent_encode(&s, URL_ENCODE).to_string() } else { s }
}

fn max_keys(requested: Option<i32>) -> usize {
    requested.map_or(MAX_KEYS, |n| usize::try_from(n).unwrap_or(0).min(MAX_KEYS))
}

fn content_range(range: &std::ops::Range<u64>, size: u64) -> String {
    format!("bytes {}-{}/{size}", range.start, range.end - 1)
}

fn size_i64(size: u64) -> i64 {
    i64::try_from(size).unwrap_or(i64::MAX)
}

impl FsStore {
    /// An object's open file and record, or NoSuchKey / NoSuchBucket.
    async fn find(&self, bucket: &str, key: &str) -> S3Result<(File, Record)> {
        let path = self.object_path(bucket, key)?;
        let owned_key = key.to_owned();
        if let Some(found) = blocking(move || FsStore::open_object(&path, &owned_key)).await? {
            Ok(found)
        } else {
            self.existing_bucket(bucket).await?;
            Err(s3_error!(NoSuchKey, "no such key"))
        }
    }

    async fn scan(&self, bucket: &str) -> S3Result<Vec<Record>> {
        let dir = self.existing_bucket(bucket).await?;
        blocking(move || FsStore::scan_bucket(&dir).map_err(|e| internal(e, "cannot list the bucket"))).await
    }

    async fn upload_of(&self, upload_id: &str, bucket: &str, key: &str) -> S3Result<(PathBuf, UploadInfo)> {
        let (store, id, bucket, key) = (self.clone(), upload_id.to_owned(), bucket.to_owned(), key.to_owned());
        blocking(move || store.upload(&id, &bucket, &key)).await
    }
}

#[expect(clippy::too_many_lines, reason = "to split by what it does (issue 22)")]
#[async_trait::async_trait]
impl S3 for FsStore {
    async fn create_bucket(&self, req: S3Request<CreateBucketInput>) -> S3Result<S3Response<CreateBucketOutput>> {
        let store = self.clone();
        let bucket = req.input.bucket;
        if !blocking(move || store.create_bucket(&bucket)).await? {
            return Err(s3_error!(BucketAlreadyOwnedByYou, "the bucket exists"));
        }
        Ok(S3Response::new(CreateBucketOutput::default()))
    }

    async fn head_bucket(&self, req: S3Request<HeadBucketInput>) -> S3Result<S3Response<HeadBucketOutput>> {
        self.existing_bucket(&req.input.bucket).await?;
        Ok(S3Response::new(HeadBucketOutput::default()))
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.existing_bucket(&req.input.bucket).await?;
        // No location constraint means us-east-1, the embedded store's region.
        Ok(S3Response::new(GetBucketLocationOutput::default()))
    }

    async fn list_buckets(&self, _req: S3Request<ListBucketsInput>) -> S3Result<S3Response<ListBucketsOutput>> {
        let dir = self.buckets_dir().to_owned();
        let buckets = blocking(move || {
            let list = || -> io::Result<Vec<Bucket>> {
                let mut buckets = Vec::new();
                for entry in std::fs::read_dir(&dir)? {
                    let entry = entry?;
                    let Ok(name) = entry.file_name().into_string() else { continue };
                    let meta = entry.metadata()?;
                    if meta.is_dir() && s3s::path::check_bucket_name(&name) {
                        let created = meta.modified()?;
                        buckets.push(Bucket {
                            name: Some(name),
                            creation_date: Some(created.into()),
                            bucket_region: None,
                        });
                    }
                }
                buckets.sort_by(|a, b| a.name.cmp(&b.name));
                Ok(buckets)
            };
            list().map_err(|e| internal(e, "cannot list buckets"))
        })
        .await?;
        Ok(S3Response::new(ListBucketsOutput { buckets: Some(buckets), ..Default::default() }))
    }

    async fn delete_bucket(&self, req: S3Request<DeleteBucketInput>) -> S3Result<S3Response<DeleteBucketOutput>> {
        let dir = self.existing_bucket(&req.input.bucket).await?;
        blocking(move || {
            // remove_dir fails on a non-empty directory, so a concurrent PUT is never lost.
            let not_empty = |e: io::Error| {
                if e.kind() == io::ErrorKind::DirectoryNotEmpty {
                    s3_error!(BucketNotEmpty, "the bucket is not empty")
                } else {
                    internal(e, "cannot delete the bucket")
                }
            };
            for entry in std::fs::read_dir(&dir).map_err(not_empty)? {
                std::fs::remove_dir(entry.map_err(not_empty)?.path()).map_err(not_empty)?;
            }
            std::fs::remove_dir(&dir).map_err(not_empty)
        })
        .await?;
        Ok(S3Response::new(DeleteBucketOutput::default()))
    }

    async fn put_object(&self, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
        let S3Request { input, headers, trailing_headers, .. } = req;
        let mode = write_mode(input.if_none_match.as_ref(), input.if_match.as_ref())?;
        self.existing_bucket(&input.bucket).await?;
        let dest = self.object_path(&input.bucket, &input.key)?;
        if mode == Commit::CreateOnly {
            refuse_existing(&dest).await?;
        }
        let check = self.receive(input.body, announced!(input), &headers, trailing_headers.as_ref()).await?;
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

    async fn head_object(&self, req: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
        let input = req.input;
        let (_, record) = self.find(&input.bucket, &input.key).await?;
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

    async fn get_object(&self, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
        let input = req.input;
        let (file, record) = self.find(&input.bucket, &input.key).await?;
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

    async fn copy_object(&self, req: S3Request<CopyObjectInput>) -> S3Result<S3Response<CopyObjectOutput>> {
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
        self.existing_bucket(&input.bucket).await?;
        let dest = self.object_path(&input.bucket, &input.key)?;
        if mode == Commit::CreateOnly {
            refuse_existing(&dest).await?;
        }
        let (src_file, src_record) = self.find(src_bucket, src_key).await?;
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
        let (store, key) = (self.clone(), input.key);
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

    async fn delete_object(&self, req: S3Request<DeleteObjectInput>) -> S3Result<S3Response<DeleteObjectOutput>> {
        let input = req.input;
        self.existing_bucket(&input.bucket).await?;
        let path = self.object_path(&input.bucket, &input.key)?;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(internal(e, "cannot delete the object")),
        }
        Ok(S3Response::new(DeleteObjectOutput::default()))
    }

    async fn delete_objects(&self, req: S3Request<DeleteObjectsInput>) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let input = req.input;
        self.existing_bucket(&input.bucket).await?;
        let quiet = input.delete.quiet.unwrap_or(false);
        let (mut deleted, mut errors) = (Vec::new(), Vec::new());
        for object in input.delete.objects {
            let path = self.object_path(&input.bucket, &object.key)?;
            match tokio::fs::remove_file(&path).await {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::error!(error = %e, "embedded S3: cannot delete an object");
                    errors.push(Error {
                        code: Some("InternalError".into()),
                        key: Some(object.key),
                        message: Some(format!("cannot delete the object: {}", e.kind())),
                        version_id: None,
                    });
                    continue;
                }
            }
            if !quiet {
                deleted.push(DeletedObject { key: Some(object.key), ..Default::default() });
            }
        }
        Ok(S3Response::new(DeleteObjectsOutput {
            deleted: Some(deleted),
            errors: (!errors.is_empty()).then_some(errors),
            ..Default::default()
        }))
    }

    async fn list_objects_v2(&self, req: S3Request<ListObjectsV2Input>) -> S3Result<S3Response<ListObjectsV2Output>> {
        let input = req.input;
        let records = self.scan(&input.bucket).await?;
        let token = match &input.continuation_token {
            Some(token) => Some(
                URL_SAFE_NO_PAD
                    .decode(token)
                    .ok()
                    .and_then(|raw| String::from_utf8(raw).ok())
                    .ok_or_else(|| s3_error!(InvalidArgument, "invalid continuation token"))?,
            ),
            None => None,
        };
        let after = token.as_deref().max(input.start_after.as_deref());
        let prefix = input.prefix.as_deref().unwrap_or("");
        let max = max_keys(input.max_keys);
        let page = paginate(records, prefix, input.delimiter.as_deref(), after, max);
        let encode = url_encoder(input.encoding_type.as_ref());
        let key_count = i32::try_from(page.objects.len() + page.prefixes.len()).unwrap_or(i32::MAX);
        let output = ListObjectsV2Output {
            name: Some(input.bucket),
            prefix: input.prefix.map(&encode),
            delimiter: input.delimiter.map(&encode),
            start_after: input.start_after.map(&encode),
            max_keys: Some(i32::try_from(max).unwrap_or(i32::MAX)),
            key_count: Some(key_count),
            is_truncated: Some(page.truncated),
            continuation_token: input.continuation_token,
            next_continuation_token: page.next.map(|next| URL_SAFE_NO_PAD.encode(next)),
            contents: Some(page.objects.into_iter().map(|r| list_entry(r, &encode)).collect()),
            common_prefixes: Some(
                page.prefixes.into_iter().map(|p| CommonPrefix { prefix: Some(encode(p)) }).collect(),
            ),
            encoding_type: input.encoding_type,
            ..Default::default()
        };
        Ok(S3Response::new(output))
    }

    async fn list_objects(&self, req: S3Request<ListObjectsInput>) -> S3Result<S3Response<ListObjectsOutput>> {
        let input = req.input;
        let records = self.scan(&input.bucket).await?;
        let prefix = input.prefix.as_deref().unwrap_or("");
        let max = max_keys(input.max_keys);
        let page = paginate(records, prefix, input.delimiter.as_deref(), input.marker.as_deref(), max);
        let encode = url_encoder(input.encoding_type.as_ref());
        let output = ListObjectsOutput {
            name: Some(input.bucket),
            prefix: input.prefix.map(&encode),
            delimiter: input.delimiter.map(&encode),
            marker: input.marker.map(&encode),
            max_keys: Some(i32::try_from(max).unwrap_or(i32::MAX)),
            is_truncated: Some(page.truncated),
            next_marker: page.next.map(&encode),
            contents: Some(page.objects.into_iter().map(|r| list_entry(r, &encode)).collect()),
            common_prefixes: Some(
                page.prefixes.into_iter().map(|p| CommonPrefix { prefix: Some(encode(p)) }).collect(),
            ),
            encoding_type: input.encoding_type,
            ..Default::default()
        };
        Ok(S3Response::new(output))
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let input = req.input;
        self.existing_bucket(&input.bucket).await?;
        let info = UploadInfo {
            bucket: input.bucket.clone(),
            key: input.key.clone(),
            content_type: input.content_type,
            checksum_algorithm: input.checksum_algorithm.as_ref().map(|a| a.as_str().to_owned()),
            initiated_ms: now_ms(),
        };
        let store = self.clone();
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

    async fn upload_part(&self, req: S3Request<UploadPartInput>) -> S3Result<S3Response<UploadPartOutput>> {
        let S3Request { input, headers, trailing_headers, .. } = req;
        let n = input.part_number;
        if !(1..=10_000).contains(&n) {
            return Err(s3_error!(InvalidArgument, "part numbers are 1 to 10000"));
        }
        let (dir, _) = self.upload_of(&input.upload_id, &input.bucket, &input.key).await?;
        let check = self.receive(input.body, announced!(input), &headers, trailing_headers.as_ref()).await?;
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

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let input = req.input;
        let mode = write_mode(input.if_none_match.as_ref(), input.if_match.as_ref())?;
        let parts = input.multipart_upload.and_then(|m| m.parts).unwrap_or_default();
        if parts.is_empty() {
            return Err(s3_error!(MalformedXML, "you must specify at least one part"));
        }
        let dest = self.object_path(&input.bucket, &input.key)?;
        if mode == Commit::CreateOnly {
            refuse_existing(&dest).await?;
        }
        let (dir, info) = self.upload_of(&input.upload_id, &input.bucket, &input.key).await?;
        let (store, key, whole_sha256) = (self.clone(), input.key.clone(), input.checksum_sha256);
        let record = blocking(move || {
            let mut files = Vec::with_capacity(parts.len());
            let mut previous = 0;
            for (i, part) in parts.iter().enumerate() {
                let n = part.part_number.ok_or_else(|| s3_error!(InvalidPart, "a part has no PartNumber"))?;
                if n <= previous {
                    return Err(s3_error!(InvalidPartOrder, "parts must be listed in ascending order"));
                }
                previous = n;
                let file = match File::open(part_path(&dir, n)) {
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
                if i + 1 < parts.len() && record.size < MIN_PART_SIZE {
                    return Err(s3_error!(
                        EntityTooSmall,
                        "part {n} has {} bytes; every part but the last needs at least 5 MiB",
                        record.size
                    ));
                }
                files.push((file, record));
            }

            let assemble = || -> io::Result<(TempFile, Record, String)> {
                let mut tmp = store.temp()?;
                let (mut sha256, mut etags, mut composite) = (Sha256::new(), Sha256::new(), Sha256::new());
                let mut size = 0;
                for (file, part) in &files {
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
                    content_type: info.content_type,
                    modified_ms: now_ms(),
                    parts: u32::try_from(count).ok(),
                };
                // S3's composite SHA-256 (of the parts' SHA-256), to check a client's whole-upload one.
                let composite = format!("{}-{count}", B64.encode(composite.finalize()));
                Ok((tmp, record, composite))
            };
            let (mut tmp, record, composite) = assemble().map_err(|e| internal(e, "cannot assemble the object"))?;
            if let Some(sent) = &whole_sha256 {
                let ok = match sent.trim().split_once('-') {
                    Some(_) => sent.trim() == composite,
                    None => record.sha256_base64().is_some_and(|whole| same_base64(sent, &whole)),
                };
                if !ok {
                    return Err(s3_error!(BadDigest, "x-amz-checksum-sha256 does not match the assembled object"));
                }
            }
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

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let input = req.input;
        let (dir, _) = self.upload_of(&input.upload_id, &input.bucket, &input.key).await?;
        blocking(move || std::fs::remove_dir_all(&dir).map_err(|e| internal(e, "cannot remove the upload"))).await?;
        Ok(S3Response::new(AbortMultipartUploadOutput::default()))
    }

    async fn list_parts(&self, req: S3Request<ListPartsInput>) -> S3Result<S3Response<ListPartsOutput>> {
        let input = req.input;
        let (dir, info) = self.upload_of(&input.upload_id, &input.bucket, &input.key).await?;
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

    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        let input = req.input;
        self.existing_bucket(&input.bucket).await?;
        let store = self.clone();
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn empty_record() -> Record {
        Record {
            key: String::new(),
            size: 0,
            etag: String::new(),
            sha256: String::new(),
            crc32: None,
            crc32c: None,
            sha1: None,
            crc64nvme: None,
            content_type: None,
            modified_ms: 0,
            parts: None,
        }
    }

    fn record(key: &str) -> Record {
        Record { key: key.to_owned(), ..empty_record() }
    }

    fn names(page: &Page) -> (Vec<&str>, Vec<&str>) {
        (page.objects.iter().map(|r| r.key.as_str()).collect(), page.prefixes.iter().map(String::as_str).collect())
    }

    #[test]
    fn paginate_groups_by_delimiter_and_resumes_after_a_group() {
        let records = ["a/1", "a/2", "a/b/3", "a0", "c", "d/4"].map(record).to_vec();
        let page = paginate(records.clone(), "", Some("/"), None, 1000);
        assert_eq!(names(&page), (vec!["a0", "c"], vec!["a/", "d/"]));
        assert!(!page.truncated);

        let page = paginate(records.clone(), "a/", Some("/"), None, 1000);
        assert_eq!(names(&page), (vec!["a/1", "a/2"], vec!["a/b/"]));

        let first = paginate(records.clone(), "", Some("/"), None, 1);
        assert_eq!(names(&first), (vec![], vec!["a/"]));
        assert!(first.truncated);
        let second = paginate(records.clone(), "", Some("/"), first.next.as_deref(), 2);
        assert_eq!(names(&second), (vec!["a0", "c"], vec![]));
        let third = paginate(records, "", Some("/"), second.next.as_deref(), 2);
        assert_eq!(names(&third), (vec![], vec!["d/"]));
        assert!(!third.truncated);
    }

    #[test]
    fn verify_refuses_a_wrong_or_unannounced_checksum() {
        let digests = Digests {
            size: 5,
            sha256: Sha256::digest(b"hello").into(),
            client: Checksum { checksum_crc32: Some("NhCmhg==".into()), ..Default::default() },
            md5: None,
        };
        let claim = |a: Algorithm, v: &str| vec![(a, v.to_owned())];
        assert!(verify(&digests, &claim(Algorithm::Crc32, "NhCmhg=="), Some(5), None).is_ok());
        let sha = B64.encode(Sha256::digest(b"hello"));
        assert!(verify(&digests, &claim(Algorithm::Sha256, &sha), None, None).is_ok());
        let code = |r: S3Result<()>| r.unwrap_err().code().as_str().to_owned();
        assert_eq!(code(verify(&digests, &claim(Algorithm::Crc32, "AAAAAA=="), None, None)), "BadDigest");
        assert_eq!(code(verify(&digests, &claim(Algorithm::Crc32c, "AAAAAA=="), None, None)), "InvalidRequest");
        assert_eq!(code(verify(&digests, &[], Some(6), None)), "IncompleteBody");
        assert_eq!(code(verify(&digests, &[], None, Some("XUFAKrxLKna5cZ2REBfFkg=="))), "BadDigest");
    }
}
