//! Reading and removing objects: facts (HEAD), copies, digests, listings, streams, ranges,
//! deletes, and signed GET URLs.

use std::time::Duration;

use aws_sdk_s3::types::{ChecksumMode, ChecksumType};
use sha2::{Digest, Sha256};

use super::error::{StorageError, StorageResult, s3_err};
use super::{ObjectFacts, ObjectStream, Storage, sha256_hex_from_base64};

impl Storage {
    /// Size and, when the store reports it, the whole object's SHA-256.
    pub async fn head(&self, key: &str) -> StorageResult<ObjectFacts> {
        if let Some(local) = &self.local {
            return match local.facts(&self.bucket, key).await {
                Ok(Some(found)) => Ok(ObjectFacts { size: found.size, sha256: Some(found.sha256) }),
                Ok(None) => Err(StorageError::NotFound),
                Err(e) => Err(StorageError::S3(format!("{e:#}"))),
            };
        }
        let out = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .map_err(|e| {
                if e.as_service_error().is_some_and(aws_sdk_s3::operation::head_object::HeadObjectError::is_not_found) {
                    StorageError::NotFound
                } else {
                    s3_err(e)
                }
            })?;
        // A composite checksum (`...-N`, or type COMPOSITE) covers part checksums, not the bytes.
        let composite = out.checksum_type().is_some_and(|t| *t == ChecksumType::Composite);
        let sha256 = out.checksum_sha256().filter(|c| !composite && !c.contains('-')).and_then(sha256_hex_from_base64);
        Ok(ObjectFacts { size: out.content_length.unwrap_or(0).max(0) as u64, sha256 })
    }

    /// Copies an object inside the bucket, server-side.
    pub async fn copy(&self, from: &str, to: &str) -> StorageResult<()> {
        self.client
            .copy_object()
            .bucket(&self.bucket)
            .key(to)
            .copy_source(format!("{}/{}", self.bucket, from))
            .send()
            .await
            .map_err(|e| {
                if e.as_service_error().is_some_and(|s| format!("{s:?}").contains("NoSuchKey")) {
                    StorageError::NotFound
                } else {
                    s3_err(e)
                }
            })?;
        Ok(())
    }

    /// Reads the object once and returns its size and SHA-256 (hex): what is actually stored,
    /// whatever the uploader claimed.
    pub async fn digest(&self, key: &str) -> StorageResult<(u64, String)> {
        let mut body = self.stream(key).await?.body;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        while let Some(chunk) = body.try_next().await.map_err(s3_err)? {
            size += chunk.len() as u64;
            hasher.update(&chunk);
        }
        Ok((size, hex::encode(hasher.finalize())))
    }

    /// Every key under `prefix`, in key order.
    pub async fn list_keys(&self, prefix: &str) -> StorageResult<Vec<String>> {
        let mut keys = Vec::new();
        let mut pages = self.client.list_objects_v2().bucket(&self.bucket).prefix(prefix).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(s3_err)?;
            keys.extend(page.contents().iter().filter_map(|o| o.key().map(str::to_owned)));
        }
        Ok(keys)
    }

    /// The object's bytes as they come from S3, for serving through the artifacts origin.
    pub async fn stream(&self, key: &str) -> StorageResult<ObjectStream> {
        let out = self.client.get_object().bucket(&self.bucket).key(key).send().await.map_err(|e| {
            if e.as_service_error().is_some_and(aws_sdk_s3::operation::get_object::GetObjectError::is_no_such_key) {
                StorageError::NotFound
            } else {
                s3_err(e)
            }
        })?;
        Ok(ObjectStream { length: out.content_length, body: out.body })
    }

    /// The bytes `[from, to)` of an object, streamed (`to` past the end reads to the end).
    pub async fn stream_range(&self, key: &str, from: u64, to: u64) -> StorageResult<ObjectStream> {
        if to <= from {
            return Ok(ObjectStream { length: Some(0), body: aws_sdk_s3::primitives::ByteStream::from_static(b"") });
        }
        let range = format!("bytes={from}-{}", to - 1);
        let out = self.client.get_object().bucket(&self.bucket).key(key).range(range).send().await.map_err(|e| {
            if e.as_service_error().is_some_and(aws_sdk_s3::operation::get_object::GetObjectError::is_no_such_key) {
                StorageError::NotFound
            } else {
                s3_err(e)
            }
        })?;
        Ok(ObjectStream { length: out.content_length, body: out.body })
    }

    /// The first `len` bytes of an object, in memory (callers bound `len`).
    pub async fn read_prefix(&self, key: &str, len: u64) -> StorageResult<bytes::Bytes> {
        self.read_range(key, 0, len).await
    }

    /// The bytes `[from, to)` of an object, in memory (callers bound the range).
    pub async fn read_range(&self, key: &str, from: u64, to: u64) -> StorageResult<bytes::Bytes> {
        let object = self.stream_range(key, from, to).await?;
        Ok(object.body.collect().await.map_err(s3_err)?.into_bytes())
    }

    pub async fn delete(&self, key: &str) -> StorageResult<()> {
        self.client.delete_object().bucket(&self.bucket).key(key).send().await.map_err(s3_err)?;
        Ok(())
    }

    /// A short-lived GET URL that answers with the given content type and disposition.
    /// A GET URL of an object, with the type and disposition S3 answers it with.
    pub async fn presign_get(
        &self,
        key: &str,
        content_type: &str,
        content_disposition: Option<&str>,
        expires: Duration,
    ) -> StorageResult<String> {
        self.get_signer.sign(key, content_type, content_disposition, expires).await
    }
}
