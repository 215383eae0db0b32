//! The embedded store's files: on-disk layout, the object record format and the write protocol
//! (spool to a temp file while hashing, check, then commit with one atomic filesystem operation).
//! The S3 operations on top of it live in `s3.rs`.
//!
//! Layout under the root (`<data-dir>/store`), directories 0700, files 0600:
//! - `tmp/<uuid>`: files (and new upload directories) being written. Anything left there at
//!   start-up belongs to a request that never committed and is removed.
//! - `buckets/<bucket>/<hh>/<h>`: one file per object, `h` the hex SHA-256 of the key and `hh` its
//!   first two digits. A key is never a path, so any S3 key (1024 bytes, `/`, `..`) is safe.
//! - `uploads/<upload-id>/upload.json` and `part-<n>`: multipart uploads in progress.
//!
//! Record format: an object (or part) file is `<bytes><JSON Record><u32 LE length of the JSON><MAGIC>`.
//! The bytes and what describes them (key, size, ETag, SHA-256, checksums, content type) are one
//! file, so a single `rename(2)` (replace) or `link(2)` (create only: fails with EEXIST, the
//! atomic `If-None-Match: *`) commits both. Readers that already opened the old file keep reading
//! it, so a GET racing a replace or a delete sees one whole version.
//!
//! Durability: the temp file is `fdatasync`ed before it is committed, so the name never points at
//! bytes that are not on disk yet (no torn object after a power loss). Directories are not
//! synced: after a power loss the newest commits may be missing (the previous version, or no
//! object, is visible), which costs one fsync less per object and is never a partial object.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use futures::StreamExt;
use s3s::checksum::ChecksumHasher;
use s3s::crypto::{Checksum as _, Md5};
use s3s::dto::{self, ETag, StreamingBlob, Timestamp};
use s3s::{S3Error, S3Result, s3_error};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

const MAGIC: &[u8; 8] = b"VTRNOBJ1";
/// JSON length (u32) and magic after the record.
const TAIL: u64 = 12;
/// Received bytes are handed to a blocking thread in batches of this size: bounded memory per
/// request, and one thread hop per MiB rather than per network chunk.
const BATCH: usize = 1 << 20;
const UPLOAD_INFO: &str = "upload.json";

/// What an object file says about its bytes. Also used for multipart parts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Record {
    pub key: String,
    pub size: u64,
    /// Unquoted: 32 hex digits, or `<hex>-<parts>` for a multipart object.
    pub etag: String,
    /// Hex SHA-256 of the whole object, always present.
    pub sha256: String,
    /// Client-announced checksums (base64), verified when the bytes arrived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crc32: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crc32c: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha1: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crc64nvme: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Milliseconds since the Unix epoch.
    pub modified_ms: u64,
    /// Part count of a multipart object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parts: Option<u32>,
}

impl Record {
    pub fn new(key: &str, digests: &Digests, etag: String) -> Record {
        Record {
            key: key.to_owned(),
            size: digests.size,
            etag,
            sha256: hex::encode(digests.sha256),
            crc32: digests.client.checksum_crc32.clone(),
            crc32c: digests.client.checksum_crc32c.clone(),
            sha1: digests.client.checksum_sha1.clone(),
            crc64nvme: digests.client.checksum_crc64nvme.clone(),
            content_type: None,
            modified_ms: now_ms(),
            parts: None,
        }
    }

    pub fn e_tag(&self) -> ETag {
        ETag::Strong(self.etag.clone())
    }

    pub fn last_modified(&self) -> Timestamp {
        timestamp(self.modified_ms)
    }

    pub fn sha256_base64(&self) -> Option<String> {
        hex::decode(&self.sha256).ok().map(|raw| B64.encode(raw))
    }
}

pub(super) fn timestamp(ms: u64) -> Timestamp {
    Timestamp::from(UNIX_EPOCH + Duration::from_millis(ms))
}

pub(super) fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A multipart upload in progress, as created by CreateMultipartUpload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct UploadInfo {
    pub bucket: String,
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum_algorithm: Option<String>,
    pub initiated_ms: u64,
}

struct Dirs {
    tmp: PathBuf,
    buckets: PathBuf,
    uploads: PathBuf,
}

/// The store root. Cheap to clone; every operation is independent (no global lock): atomicity
/// comes from the filesystem.
#[derive(Clone)]
pub struct FsStore {
    dirs: Arc<Dirs>,
}

impl std::fmt::Debug for FsStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FsStore").field("buckets", &self.dirs.buckets).finish()
    }
}

pub(super) fn mkdir(path: &Path, recursive: bool) -> io::Result<()> {
    DirBuilder::new().recursive(recursive).mode(0o700).create(path)
}

/// Maps a filesystem error to a 500 for the client and logs the details here.
pub(super) fn internal(e: io::Error, what: &str) -> S3Error {
    tracing::error!(error = %e, "embedded S3: {what}");
    s3_error!(InternalError, "{what}: {}", e.kind())
}

/// Runs filesystem work on the blocking pool.
pub(super) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> S3Result<T> + Send + 'static) -> S3Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(S3Error::internal_error)?
}

impl FsStore {
    /// Creates the directories if needed and removes what interrupted requests left behind.
    pub fn open(root: &Path) -> io::Result<FsStore> {
        let dirs = Dirs { tmp: root.join("tmp"), buckets: root.join("buckets"), uploads: root.join("uploads") };
        for dir in [root, &dirs.tmp, &dirs.buckets, &dirs.uploads] {
            mkdir(dir, true)?;
        }
        for entry in std::fs::read_dir(&dirs.tmp)? {
            let entry = entry?;
            let path = entry.path();
            let removed =
                if entry.file_type()?.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
            removed.or_else(|e| if e.kind() == io::ErrorKind::NotFound { Ok(()) } else { Err(e) })?;
        }
        Ok(FsStore { dirs: Arc::new(dirs) })
    }

    /// The bucket's directory; the name is checked so that it is a plain path component.
    pub(super) fn bucket_dir(&self, bucket: &str) -> S3Result<PathBuf> {
        if !s3s::path::check_bucket_name(bucket) {
            return Err(s3_error!(InvalidBucketName, "invalid bucket name"));
        }
        Ok(self.dirs.buckets.join(bucket))
    }

    /// The bucket's directory, or NoSuchBucket.
    pub(super) async fn existing_bucket(&self, bucket: &str) -> S3Result<PathBuf> {
        let dir = self.bucket_dir(bucket)?;
        match tokio::fs::metadata(&dir).await {
            Ok(m) if m.is_dir() => Ok(dir),
            Ok(_) => Err(s3_error!(NoSuchBucket, "no bucket {bucket}")),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(s3_error!(NoSuchBucket, "no bucket {bucket}")),
            Err(e) => Err(internal(e, "cannot read the bucket")),
        }
    }

    pub(super) fn object_path(&self, bucket: &str, key: &str) -> S3Result<PathBuf> {
        let name = hex::encode(Sha256::digest(key.as_bytes()));
        Ok(self.bucket_dir(bucket)?.join(&name[..2]).join(name))
    }

    pub(super) fn buckets_dir(&self) -> &Path {
        &self.dirs.buckets
    }

    /// Creates the bucket; false if it already existed.
    pub(super) fn create_bucket(&self, bucket: &str) -> S3Result<bool> {
        match mkdir(&self.bucket_dir(bucket)?, false) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(internal(e, "cannot create the bucket")),
        }
    }

    /// Every object of a bucket, in no particular order (blocking).
    pub(super) fn scan_bucket(dir: &Path) -> io::Result<Vec<Record>> {
        let mut records = Vec::new();
        for fan in std::fs::read_dir(dir)? {
            let fan = fan?;
            if !fan.file_type()?.is_dir() {
                continue;
            }
            let entries = match std::fs::read_dir(fan.path()) {
                Ok(entries) => entries,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            for entry in entries {
                let path = entry?.path();
                // An object deleted or replaced while we scan is simply skipped.
                match File::open(&path).and_then(|f| read_record(&f)) {
                    Ok(record) => records.push(record),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => tracing::warn!(path = %path.display(), error = %e, "embedded S3: unreadable object"),
                }
            }
        }
        Ok(records)
    }

    /// Opens an object and reads its record (blocking). None when absent.
    pub(super) fn open_object(path: &Path, key: &str) -> S3Result<Option<(File, Record)>> {
        let file = match File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(internal(e, "cannot open the object")),
        };
        let record = read_record(&file).map_err(|e| internal(e, "damaged object record"))?;
        // Another key with the same SHA-256 file name is not this object.
        Ok((record.key == key).then_some((file, record)))
    }

    pub(super) fn temp(&self) -> io::Result<TempFile> {
        TempFile::create(&self.dirs.tmp)
    }

    fn upload_dir(&self, upload_id: &str) -> S3Result<PathBuf> {
        // Parsing keeps the id a plain path component.
        let id = uuid::Uuid::parse_str(upload_id).map_err(|_| s3_error!(NoSuchUpload, "no upload {upload_id}"))?;
        Ok(self.dirs.uploads.join(id.simple().to_string()))
    }

    /// Records a new multipart upload and returns its id (blocking).
    pub(super) fn create_upload(&self, info: &UploadInfo) -> io::Result<String> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        // Built in tmp/ and renamed into place: an upload directory always has its upload.json.
        let staging = self.dirs.tmp.join(format!("{id}.upload"));
        mkdir(&staging, false)?;
        let mut file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(staging.join(UPLOAD_INFO))?;
        file.write_all(&serde_json::to_vec(info)?)?;
        std::fs::rename(&staging, self.dirs.uploads.join(&id))?;
        Ok(id)
    }

    /// The upload's directory and description, checked against the request's bucket and key
    /// (blocking).
    pub(super) fn upload(&self, upload_id: &str, bucket: &str, key: &str) -> S3Result<(PathBuf, UploadInfo)> {
        let dir = self.upload_dir(upload_id)?;
        let text = match std::fs::read(dir.join(UPLOAD_INFO)) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(s3_error!(NoSuchUpload, "no upload {upload_id}"));
            }
            Err(e) => return Err(internal(e, "cannot read the upload")),
        };
        let info: UploadInfo =
            serde_json::from_slice(&text).map_err(|e| internal(io::Error::other(e), "damaged upload record"))?;
        if info.bucket != bucket || info.key != key {
            return Err(s3_error!(NoSuchUpload, "no upload {upload_id} for this key"));
        }
        Ok((dir, info))
    }

    /// Every upload in progress (blocking).
    pub(super) fn uploads(&self) -> io::Result<Vec<(String, UploadInfo)>> {
        let mut uploads = Vec::new();
        for entry in std::fs::read_dir(&self.dirs.uploads)? {
            let entry = entry?;
            let Ok(id) = entry.file_name().into_string() else { continue };
            let info = match std::fs::read(entry.path().join(UPLOAD_INFO)) {
                Ok(text) => serde_json::from_slice::<UploadInfo>(&text).map_err(io::Error::other)?,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            uploads.push((id, info));
        }
        Ok(uploads)
    }
}

pub(super) fn part_path(upload_dir: &Path, part_number: i32) -> PathBuf {
    upload_dir.join(format!("part-{part_number}"))
}

/// The parts uploaded so far, by part number (blocking).
pub(super) fn read_parts(upload_dir: &Path) -> io::Result<Vec<(i32, Record)>> {
    let mut parts = Vec::new();
    for entry in std::fs::read_dir(upload_dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(n) = name.to_str().and_then(|n| n.strip_prefix("part-")).and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        match File::open(entry.path()).and_then(|f| read_record(&f)) {
            Ok(record) => parts.push((n, record)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    parts.sort_by_key(|(n, _)| *n);
    Ok(parts)
}

/// Reads the record at the end of an object file (blocking).
pub(super) fn read_record(file: &File) -> io::Result<Record> {
    let damaged = |what: &str| io::Error::new(io::ErrorKind::InvalidData, format!("damaged object file: {what}"));
    let len = file.metadata()?.len();
    if len < TAIL {
        return Err(damaged("too short"));
    }
    let mut tail = [0u8; TAIL as usize];
    file.read_exact_at(&mut tail, len - TAIL)?;
    if &tail[4..] != MAGIC {
        return Err(damaged("no record"));
    }
    let json_len = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
    if len < TAIL + json_len {
        return Err(damaged("record length"));
    }
    let mut json = vec![0u8; usize::try_from(json_len).map_err(|_| damaged("record length"))?];
    file.read_exact_at(&mut json, len - TAIL - json_len)?;
    let record: Record = serde_json::from_slice(&json).map_err(|_| damaged("record"))?;
    if record.size + json_len + TAIL != len {
        return Err(damaged("size"));
    }
    Ok(record)
}

/// How a finished temp file takes its place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Commit {
    /// `rename(2)`: atomically replaces whatever was there.
    Replace,
    /// `link(2)`: fails with AlreadyExists if the name exists, atomically (`If-None-Match: *`).
    CreateOnly,
}

/// A file in `tmp/`, removed when dropped unless it was renamed into place.
pub(super) struct TempFile {
    path: PathBuf,
    pub file: File,
    armed: bool,
}

impl TempFile {
    fn create(dir: &Path) -> io::Result<TempFile> {
        let path = dir.join(uuid::Uuid::new_v4().simple().to_string());
        let file = OpenOptions::new().read(true).write(true).create_new(true).mode(0o600).open(&path)?;
        Ok(TempFile { path, file, armed: true })
    }

    /// Appends the record; the file must hold exactly `record.size` bytes of data.
    pub fn append_record(&mut self, record: &Record) -> io::Result<()> {
        let json = serde_json::to_vec(record)?;
        let json_len = u32::try_from(json.len()).map_err(|_| io::Error::other("record too large"))?;
        let mut tail = json;
        tail.extend_from_slice(&json_len.to_le_bytes());
        tail.extend_from_slice(MAGIC);
        self.file.write_all(&tail)
    }

    /// Syncs the bytes and links the file at `dest`. With `make_parent`, a missing parent
    /// directory (an object fan-out directory, never a bucket) is created.
    pub fn commit(mut self, dest: &Path, mode: Commit, make_parent: bool) -> io::Result<()> {
        self.file.sync_data()?;
        let attempt = |tmp: &Path| match mode {
            Commit::Replace => std::fs::rename(tmp, dest),
            Commit::CreateOnly => std::fs::hard_link(tmp, dest),
        };
        match attempt(&self.path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound && make_parent => {
                if let Some(parent) = dest.parent() {
                    match mkdir(parent, false) {
                        Ok(()) => {}
                        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                        Err(e) => return Err(e),
                    }
                }
                attempt(&self.path)?;
            }
            other => other?,
        }
        // After a rename the temp name is gone; after a link, Drop removes it.
        self.armed = mode == Commit::CreateOnly;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.armed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The checksum algorithms of `x-amz-checksum-*` (SHA-256 is always computed anyway).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Algorithm {
    Crc32,
    Crc32c,
    Sha1,
    Sha256,
    Crc64Nvme,
}

impl Algorithm {
    pub const ALL: [Algorithm; 5] =
        [Algorithm::Crc32, Algorithm::Crc32c, Algorithm::Sha1, Algorithm::Sha256, Algorithm::Crc64Nvme];

    pub fn header(self) -> &'static str {
        match self {
            Algorithm::Crc32 => "x-amz-checksum-crc32",
            Algorithm::Crc32c => "x-amz-checksum-crc32c",
            Algorithm::Sha1 => "x-amz-checksum-sha1",
            Algorithm::Sha256 => "x-amz-checksum-sha256",
            Algorithm::Crc64Nvme => "x-amz-checksum-crc64nvme",
        }
    }

    /// From an algorithm name (`CRC32`, `sha256`, ...).
    pub fn from_name(name: &str) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|a| a.header()["x-amz-checksum-".len()..].eq_ignore_ascii_case(name.trim()))
    }

    /// From a header name (`x-amz-checksum-crc32`, ...).
    pub fn from_header(name: &str) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|a| a.header().eq_ignore_ascii_case(name.trim()))
    }
}

/// Hashes computed while the bytes are written.
pub(super) struct Hashers {
    sha256: Sha256,
    client: ChecksumHasher,
    md5: Option<Md5>,
}

impl Hashers {
    pub fn new(algorithms: &[Algorithm], md5: bool) -> Hashers {
        let mut client = ChecksumHasher::default();
        for algorithm in algorithms {
            match algorithm {
                Algorithm::Crc32 => client.crc32 = Some(Default::default()),
                Algorithm::Crc32c => client.crc32c = Some(Default::default()),
                Algorithm::Sha1 => client.sha1 = Some(s3s::crypto::Sha1::new()),
                Algorithm::Crc64Nvme => client.crc64nvme = Some(Default::default()),
                // Computed by `sha256` below, with the sha2 crate (SHA-NI where available).
                Algorithm::Sha256 => {}
            }
        }
        Hashers { sha256: Sha256::new(), client, md5: md5.then(Md5::new) }
    }

    fn update(&mut self, data: &[u8]) {
        self.sha256.update(data);
        self.client.update(data);
        if let Some(md5) = &mut self.md5 {
            md5.update(data);
        }
    }

    fn finish(self, size: u64) -> Digests {
        Digests {
            size,
            sha256: self.sha256.finalize().into(),
            client: self.client.finalize(),
            md5: self.md5.map(Md5::finalize),
        }
    }
}

/// What the received bytes hash to.
pub(super) struct Digests {
    pub size: u64,
    pub sha256: [u8; 32],
    /// Base64 values of the enabled client algorithms (SHA-256 excluded).
    pub client: dto::Checksum,
    pub md5: Option<[u8; 16]>,
}

impl Digests {
    /// Base64 value of an algorithm, if it was computed.
    pub fn get(&self, algorithm: Algorithm) -> Option<String> {
        match algorithm {
            Algorithm::Crc32 => self.client.checksum_crc32.clone(),
            Algorithm::Crc32c => self.client.checksum_crc32c.clone(),
            Algorithm::Sha1 => self.client.checksum_sha1.clone(),
            Algorithm::Sha256 => Some(B64.encode(self.sha256)),
            Algorithm::Crc64Nvme => self.client.checksum_crc64nvme.clone(),
        }
    }

    /// A simple object's ETag: the MD5 when the client sent Content-MD5 (S3 clients may compare
    /// them), else the first 16 bytes of the SHA-256: MD5 of every GiB upload would be wasted time.
    pub fn etag(&self) -> String {
        match &self.md5 {
            Some(md5) => hex::encode(md5),
            None => hex::encode(&self.sha256[..16]),
        }
    }
}

/// A request body on its way to a temp file. A small body is written in one go when it is
/// complete. A big one goes through a pipeline: the async side collects network chunks into
/// batches, a blocking thread hashes and writes each batch while the next one arrives, and
/// every [`SYNC_EVERY`] bytes a second thread flushes what was written to disk, so the final
/// `fdatasync` before the commit finds little left to do.
pub(super) struct Spool {
    store: FsStore,
    tmp: Option<TempFile>,
    /// Chunks received but not written yet.
    pending: Vec<Bytes>,
    size: u64,
    hashers: Hashers,
}

/// Written bytes between background flushes to disk.
const SYNC_EVERY: u64 = 64 << 20;

impl Spool {
    /// Reads the whole body. Fails early when it grows past `limit` (the announced length).
    pub async fn receive(
        store: &FsStore,
        body: Option<StreamingBlob>,
        hashers: Hashers,
        limit: Option<u64>,
    ) -> S3Result<Spool> {
        let mut spool = Spool { store: store.clone(), tmp: None, pending: Vec::new(), size: 0, hashers };
        let Some(mut body) = body else { return Ok(spool) };
        let mut pending = Vec::new();
        let mut pending_len = 0usize;
        let mut size = 0u64;
        let mut failed = None;
        // Started at the first full batch, with the spool moved into its writer thread.
        let mut pipeline: Option<Pipeline> = None;
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(e) => {
                    failed = Some(body_error(e));
                    break;
                }
            };
            size += chunk.len() as u64;
            if let Some(limit) = limit
                && size > limit
            {
                failed = Some(s3_error!(IncompleteBody, "the body is longer than Content-Length ({limit} bytes)"));
                break;
            }
            pending_len += chunk.len();
            pending.push(chunk);
            if pending_len >= BATCH {
                pending_len = 0;
                let line =
                    pipeline.get_or_insert_with(|| Pipeline::start(std::mem::replace(&mut spool, Spool::empty(store))));
                if line.batches.send(std::mem::take(&mut pending)).await.is_err() {
                    break; // the writer stopped: its error comes with its result
                }
            }
        }
        if let Some(line) = pipeline {
            if failed.is_none() && !pending.is_empty() {
                let _ = line.batches.send(std::mem::take(&mut pending)).await;
            }
            drop(line.batches);
            let written = line.writer.await.map_err(S3Error::internal_error)?;
            if let Some(e) = failed {
                return Err(e);
            }
            spool = written.map_err(|e| internal(e, "cannot write the upload"))?;
        } else if let Some(e) = failed {
            return Err(e);
        }
        spool.pending = pending;
        spool.size = size;
        Ok(spool)
    }

    fn empty(store: &FsStore) -> Spool {
        Spool { store: store.clone(), tmp: None, pending: Vec::new(), size: 0, hashers: Hashers::new(&[], false) }
    }

    /// Hashes and writes chunks to the temp file, creating it first if needed (blocking).
    fn write(&mut self, chunks: Vec<Bytes>) -> io::Result<u64> {
        let tmp = match &mut self.tmp {
            Some(tmp) => tmp,
            None => self.tmp.insert(self.store.temp()?),
        };
        let mut written = 0;
        for chunk in chunks {
            self.hashers.update(&chunk);
            tmp.file.write_all(&chunk)?;
            written += chunk.len() as u64;
        }
        Ok(written)
    }

    /// Writes what is left and returns the temp file with the digests (blocking).
    pub fn finish(mut self) -> S3Result<(TempFile, Digests)> {
        let pending = std::mem::take(&mut self.pending);
        self.write(pending).map_err(|e| internal(e, "cannot write the upload"))?;
        let tmp = self.tmp.take().ok_or_else(|| s3_error!(InternalError, "no temp file"))?;
        Ok((tmp, self.hashers.finish(self.size)))
    }
}

/// The writer side of a big body: batches in, the spool (with its temp file) out.
struct Pipeline {
    batches: tokio::sync::mpsc::Sender<Vec<Bytes>>,
    writer: tokio::task::JoinHandle<io::Result<Spool>>,
}

impl Pipeline {
    fn start(mut spool: Spool) -> Pipeline {
        let (batches, mut to_write) = tokio::sync::mpsc::channel::<Vec<Bytes>>(2);
        let writer = tokio::task::spawn_blocking(move || -> io::Result<Spool> {
            let mut unsynced = 0u64;
            let mut flushing: Option<std::thread::JoinHandle<io::Result<()>>> = None;
            let join = |f: std::thread::JoinHandle<io::Result<()>>| {
                f.join().map_err(|_| io::Error::other("the flush thread panicked"))?
            };
            while let Some(batch) = to_write.blocking_recv() {
                unsynced += spool.write(batch)?;
                if unsynced >= SYNC_EVERY && flushing.as_ref().is_none_or(std::thread::JoinHandle::is_finished) {
                    if let Some(done) = flushing.take() {
                        join(done)?;
                    }
                    let file = spool.tmp.as_ref().map(|t| t.file.try_clone()).transpose()?;
                    flushing = file.map(|file| std::thread::spawn(move || file.sync_data()));
                    unsynced = 0;
                }
            }
            if let Some(done) = flushing {
                join(done)?;
            }
            Ok(spool)
        });
        Pipeline { batches, writer }
    }
}

/// An error of the request body stream: the client stopped early, or s3s found the payload
/// hash or a chunk signature wrong.
fn body_error(e: s3s::StdError) -> S3Error {
    let e = match e.downcast::<S3Error>() {
        Ok(e) => return *e,
        Err(e) => e,
    };
    let text = e.to_string();
    tracing::debug!(error = %text, "embedded S3: request body failed");
    if text.contains("Sha256Mismatch") {
        s3_error!(BadDigest, "the body does not match x-amz-content-sha256")
    } else if text.contains("SignatureMismatch") {
        s3_error!(SignatureDoesNotMatch, "a chunk signature of the body does not match")
    } else {
        s3_error!(IncompleteBody, "the request body could not be read to its end: {text}")
    }
}

/// Copies `len` bytes from `src` (at its current position) to `dst`, hashing them (blocking).
pub(super) fn copy_hashing(src: &mut impl Read, dst: &mut File, len: u64, sha256: &mut Sha256) -> io::Result<()> {
    let mut buf = vec![0u8; BATCH];
    let mut left = len;
    while left > 0 {
        let want = usize::try_from(left.min(BATCH as u64)).unwrap_or(BATCH);
        let n = src.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "source ended early"));
        }
        sha256.update(&buf[..n]);
        dst.write_all(&buf[..n])?;
        left -= n as u64;
    }
    Ok(())
}

/// Stores `src`'s bytes as an object (blocking): used to import files from another layout.
pub(super) fn import_file(
    store: &FsStore,
    bucket: &str,
    key: &str,
    src: &Path,
    content_type: Option<String>,
) -> io::Result<()> {
    let mut source = File::open(src)?;
    let len = source.metadata()?.len();
    let mut tmp = store.temp()?;
    let mut sha256 = Sha256::new();
    copy_hashing(&mut source, &mut tmp.file, len, &mut sha256)?;
    let digests = Digests { size: len, sha256: sha256.finalize().into(), client: dto::Checksum::default(), md5: None };
    let mut record = Record::new(key, &digests, digests.etag());
    record.content_type = content_type;
    tmp.append_record(&record)?;
    let dest = store.object_path(bucket, key).map_err(|e| io::Error::other(format!("{e:?}")))?;
    tmp.commit(&dest, Commit::Replace, true)
}
