//! Writing: presigned PUTs and multipart uploads for agents, and completing them.

use std::time::Duration;

use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::types::{ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart};

use super::error::{StorageError, StorageResult, s3_err};
use super::get_signer::signed;
use super::{SignedRequest, Storage, sha256_base64};

impl Storage {
    fn presigning(expires: Duration) -> StorageResult<PresigningConfig> {
        PresigningConfig::expires_in(expires).map_err(s3_err)
    }

    /// A PUT URL that can store exactly `size` bytes hashing to `sha256` (hex; `None`: any
    /// bytes, verified after the fact), once: the
    /// length, the checksum and `If-None-Match: *` are signed, so the agent must send them.
    pub async fn presign_put(
        &self,
        key: &str,
        size: u64,
        sha256: Option<&str>,
        expires: Duration,
    ) -> StorageResult<SignedRequest> {
        let req = self
            .presigner
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_length(size as i64)
            .set_checksum_sha256(sha256.map(sha256_base64).transpose()?)
            .if_none_match("*")
            .presigned(Self::presigning(expires)?)
            .await
            .map_err(s3_err)?;
        Ok(signed(&req))
    }

    pub async fn create_multipart(&self, key: &str) -> StorageResult<String> {
        let out = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .send()
            .await
            .map_err(s3_err)?;
        out.upload_id.ok_or_else(|| StorageError::S3("no upload id returned".into()))
    }

    /// A part URL that takes exactly `size` bytes hashing to `sha256` (hex).
    pub async fn presign_part(
        &self,
        key: &str,
        upload_id: &str,
        part_number: i32,
        size: u64,
        sha256: &str,
        expires: Duration,
    ) -> StorageResult<SignedRequest> {
        let req = self
            .presigner
            .upload_part()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(part_number)
            .content_length(size as i64)
            .checksum_sha256(sha256_base64(sha256)?)
            .presigned(Self::presigning(expires)?)
            .await
            .map_err(s3_err)?;
        Ok(signed(&req))
    }

    /// Assembles the parts `(number, etag, hex sha256)`; refuses to replace an existing object.
    pub async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[(i32, String, String)],
    ) -> StorageResult<()> {
        let mut completed = Vec::with_capacity(parts.len());
        for (n, etag, sha256) in parts {
            completed.push(
                CompletedPart::builder().part_number(*n).e_tag(etag).checksum_sha256(sha256_base64(sha256)?).build(),
            );
        }
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .if_none_match("*")
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(completed)).build())
            .send()
            .await
            .map_err(s3_err)?;
        Ok(())
    }

    pub async fn abort_multipart(&self, key: &str, upload_id: &str) -> StorageResult<()> {
        match self.client.abort_multipart_upload().bucket(&self.bucket).key(key).upload_id(upload_id).send().await {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error().is_some_and(
                    aws_sdk_s3::operation::abort_multipart_upload::AbortMultipartUploadError::is_no_such_upload,
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(s3_err(e)),
        }
    }
}
