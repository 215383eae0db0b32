//! What a request names, found: an object with its record, a bucket's objects, an upload in
//! progress. Each answers S3's error when it is not there.

use std::fs::File;
use std::path::PathBuf;

use s3s::{S3Result, s3_error};

use crate::store::{FsStore, Record, UploadInfo, blocking, internal};

impl FsStore {
    /// An object's open file and record, or NoSuchKey / NoSuchBucket.
    pub(super) async fn find(&self, bucket: &str, key: &str) -> S3Result<(File, Record)> {
        let path = self.object_path(bucket, key)?;
        let owned_key = key.to_owned();
        if let Some(found) = blocking(move || FsStore::open_object(&path, &owned_key)).await? {
            Ok(found)
        } else {
            self.existing_bucket(bucket).await?;
            Err(s3_error!(NoSuchKey, "no such key"))
        }
    }

    pub(super) async fn scan(&self, bucket: &str) -> S3Result<Vec<Record>> {
        let dir = self.existing_bucket(bucket).await?;
        blocking(move || FsStore::scan_bucket(&dir).map_err(|e| internal(e, "cannot list the bucket"))).await
    }

    pub(super) async fn upload_of(&self, upload_id: &str, bucket: &str, key: &str) -> S3Result<(PathBuf, UploadInfo)> {
        let (store, id, bucket, key) = (self.clone(), upload_id.to_owned(), bucket.to_owned(), key.to_owned());
        blocking(move || store.upload(&id, &bucket, &key)).await
    }
}
