//! The bucket operations: CreateBucket, HeadBucket, GetBucketLocation, ListBuckets and
//! DeleteBucket (only an empty bucket).

use std::io;

use s3s::dto::{
    Bucket, CreateBucketInput, CreateBucketOutput, DeleteBucketInput, DeleteBucketOutput, GetBucketLocationInput,
    GetBucketLocationOutput, HeadBucketInput, HeadBucketOutput, ListBucketsInput, ListBucketsOutput,
};
use s3s::{S3Request, S3Response, S3Result, s3_error};

use crate::store::{FsStore, blocking, internal};

pub(super) async fn create_bucket(
    store: &FsStore,
    req: S3Request<CreateBucketInput>,
) -> S3Result<S3Response<CreateBucketOutput>> {
    let store = store.clone();
    let bucket = req.input.bucket;
    if !blocking(move || store.create_bucket(&bucket)).await? {
        return Err(s3_error!(BucketAlreadyOwnedByYou, "the bucket exists"));
    }
    Ok(S3Response::new(CreateBucketOutput::default()))
}

pub(super) async fn head_bucket(
    store: &FsStore,
    req: S3Request<HeadBucketInput>,
) -> S3Result<S3Response<HeadBucketOutput>> {
    store.existing_bucket(&req.input.bucket).await?;
    Ok(S3Response::new(HeadBucketOutput::default()))
}

pub(super) async fn get_bucket_location(
    store: &FsStore,
    req: S3Request<GetBucketLocationInput>,
) -> S3Result<S3Response<GetBucketLocationOutput>> {
    store.existing_bucket(&req.input.bucket).await?;
    // No location constraint means us-east-1, the embedded store's region.
    Ok(S3Response::new(GetBucketLocationOutput::default()))
}

pub(super) async fn list_buckets(
    store: &FsStore,
    _req: S3Request<ListBucketsInput>,
) -> S3Result<S3Response<ListBucketsOutput>> {
    let dir = store.buckets_dir().to_owned();
    let buckets = blocking(move || {
        let list = || -> io::Result<Vec<Bucket>> {
            let mut buckets = Vec::new();
            for entry in std::fs::read_dir(&dir)? {
                let entry = entry?;
                let Ok(name) = entry.file_name().into_string() else { continue };
                let meta = entry.metadata()?;
                if meta.is_dir() && s3s::path::check_bucket_name(&name) {
                    let created = meta.modified()?;
                    buckets.push(Bucket { name: Some(name), creation_date: Some(created.into()), bucket_region: None });
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

pub(super) async fn delete_bucket(
    store: &FsStore,
    req: S3Request<DeleteBucketInput>,
) -> S3Result<S3Response<DeleteBucketOutput>> {
    let dir = store.existing_bucket(&req.input.bucket).await?;
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
