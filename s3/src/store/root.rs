//! The store root: its directories (cleared of what interrupted requests left in `tmp/`), its
//! buckets, and where an object's file is found by its key.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use s3s::{S3Result, s3_error};
use sha2::{Digest, Sha256};

use super::disk::{internal, mkdir};
use super::record::{Record, read_record};
use super::temp::TempFile;

pub(super) struct Dirs {
    pub tmp: PathBuf,
    pub buckets: PathBuf,
    pub uploads: PathBuf,
}

/// The store root. Cheap to clone; every operation is independent (no global lock): atomicity
/// comes from the filesystem.
#[derive(Clone)]
pub struct FsStore {
    pub(super) dirs: Arc<Dirs>,
}

impl std::fmt::Debug for FsStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FsStore").field("buckets", &self.dirs.buckets).finish()
    }
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
    fn bucket_dir(&self, bucket: &str) -> S3Result<PathBuf> {
        if !s3s::path::check_bucket_name(bucket) {
            return Err(s3_error!(InvalidBucketName, "invalid bucket name"));
        }
        Ok(self.dirs.buckets.join(bucket))
    }

    /// The bucket's directory, or NoSuchBucket.
    pub(crate) async fn existing_bucket(&self, bucket: &str) -> S3Result<PathBuf> {
        let dir = self.bucket_dir(bucket)?;
        match tokio::fs::metadata(&dir).await {
            Ok(m) if m.is_dir() => Ok(dir),
            Ok(_) => Err(s3_error!(NoSuchBucket, "no bucket {bucket}")),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(s3_error!(NoSuchBucket, "no bucket {bucket}")),
            Err(e) => Err(internal(e, "cannot read the bucket")),
        }
    }

    pub(crate) fn object_path(&self, bucket: &str, key: &str) -> S3Result<PathBuf> {
        let name = hex::encode(Sha256::digest(key.as_bytes()));
        Ok(self.bucket_dir(bucket)?.join(&name[..2]).join(name))
    }

    pub(crate) fn buckets_dir(&self) -> &Path {
        &self.dirs.buckets
    }

    /// Creates the bucket; false if it already existed.
    pub(crate) fn create_bucket(&self, bucket: &str) -> S3Result<bool> {
        match mkdir(&self.bucket_dir(bucket)?, false) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(internal(e, "cannot create the bucket")),
        }
    }

    /// Every object of a bucket, in no particular order (blocking).
    pub(crate) fn scan_bucket(dir: &Path) -> io::Result<Vec<Record>> {
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
    pub(crate) fn open_object(path: &Path, key: &str) -> S3Result<Option<(File, Record)>> {
        let file = match File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(internal(e, "cannot open the object")),
        };
        let record = read_record(&file).map_err(|e| internal(e, "damaged object record"))?;
        // Another key with the same SHA-256 file name is not this object.
        Ok((record.key == key).then_some((file, record)))
    }

    pub(crate) fn temp(&self) -> io::Result<TempFile> {
        TempFile::create(&self.dirs.tmp)
    }
}
