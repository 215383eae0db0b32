//! DeleteObject and DeleteObjects: an object's file removed; deleting an absent key succeeds, as
//! on S3.

use std::io;

use s3s::dto::{DeleteObjectInput, DeleteObjectOutput, DeleteObjectsInput, DeleteObjectsOutput, DeletedObject, Error};
use s3s::{S3Request, S3Response, S3Result};

use crate::store::{FsStore, internal};

pub(super) async fn delete_object(
    store: &FsStore,
    req: S3Request<DeleteObjectInput>,
) -> S3Result<S3Response<DeleteObjectOutput>> {
    let input = req.input;
    store.existing_bucket(&input.bucket).await?;
    let path = store.object_path(&input.bucket, &input.key)?;
    match tokio::fs::remove_file(&path).await {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(internal(e, "cannot delete the object")),
    }
    Ok(S3Response::new(DeleteObjectOutput::default()))
}

pub(super) async fn delete_objects(
    store: &FsStore,
    req: S3Request<DeleteObjectsInput>,
) -> S3Result<S3Response<DeleteObjectsOutput>> {
    let input = req.input;
    store.existing_bucket(&input.bucket).await?;
    let quiet = input.delete.quiet.unwrap_or(false);
    let (mut deleted, mut errors) = (Vec::new(), Vec::new());
    for object in input.delete.objects {
        let path = store.object_path(&input.bucket, &object.key)?;
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
