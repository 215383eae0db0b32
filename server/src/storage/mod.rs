//! Artifact bytes in S3. Owns the key layout: keys are short and opaque, never built from
//! user-supplied paths (which live in the database).
//!
//! - `b/<uuid>`: one object per upload, written once by an agent through a presigned URL.
//!   The server lists it only after reading it back and checking size and SHA-256; the
//!   database then shares it with every artifact of the same content (see `db::reusable_blob`).

pub mod embedded;

use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use sha2::{Digest, Sha256};

/// Where and how to reach the S3 service.
#[derive(Clone)]
pub struct S3Settings {
    pub endpoint: Option<String>,
    pub bucket: String,
    pub region: String,
    /// Explicit keys (embedded store); otherwise the standard AWS chain is used.
    pub credentials: Option<(String, String)>,
    pub path_style: bool,
}

impl std::fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Settings")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("credentials", &self.credentials.as_ref().map(|(ak, _)| (ak, "<secret>")))
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("object not found")]
    NotFound,
    #[error("S3 request failed: {0}")]
    S3(String),
}

fn s3_err<E: std::fmt::Debug>(e: E) -> StorageError {
    StorageError::S3(format!("{e:?}"))
}

pub type StorageResult<T> = Result<T, StorageError>;

/// A request the agent sends as is: URL plus the headers that were signed.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SignedRequest {
    pub url: String,
    #[serde(default)]
    pub headers: Vec<(String, String)>,
}

pub struct ObjectStream {
    pub length: Option<i64>,
    pub body: aws_sdk_s3::primitives::ByteStream,
}

#[derive(Clone, Debug)]
pub struct Storage {
    client: Client,
    bucket: String,
}

pub fn new_object_key() -> String {
    format!("b/{}", uuid::Uuid::new_v4().simple())
}

impl Storage {
    pub async fn connect(settings: &S3Settings) -> anyhow::Result<Storage> {
        let http_client = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http_client)
            .region(Region::new(settings.region.clone()));
        if let Some((ak, sk)) = &settings.credentials {
            loader = loader.credentials_provider(Credentials::new(ak, sk, None, None, "vitrine"));
        }
        if let Some(endpoint) = &settings.endpoint {
            loader = loader.endpoint_url(endpoint);
        }
        let shared = loader.load().await;
        let config = aws_sdk_s3::config::Builder::from(&shared).force_path_style(settings.path_style).build();
        Ok(Storage { client: Client::from_conf(config), bucket: settings.bucket.clone() })
    }

    /// Creates the bucket when it does not exist yet (the embedded store starts empty).
    pub async fn ensure_bucket(&self) -> StorageResult<()> {
        if self.client.head_bucket().bucket(&self.bucket).send().await.is_ok() {
            return Ok(());
        }
        match self.client.create_bucket().bucket(&self.bucket).send().await {
            Ok(_) => Ok(()),
            Err(e) => {
                let text = format!("{e:?}");
                if text.contains("BucketAlreadyOwnedByYou") || text.contains("BucketAlreadyExists") {
                    Ok(())
                } else {
                    Err(StorageError::S3(text))
                }
            }
        }
    }

    fn presigning(expires: Duration) -> StorageResult<PresigningConfig> {
        PresigningConfig::expires_in(expires).map_err(s3_err)
    }

    pub async fn presign_put(&self, key: &str, expires: Duration) -> StorageResult<SignedRequest> {
        let req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(Self::presigning(expires)?)
            .await
            .map_err(s3_err)?;
        Ok(signed(&req))
    }

    pub async fn create_multipart(&self, key: &str) -> StorageResult<String> {
        let out = self.client.create_multipart_upload().bucket(&self.bucket).key(key).send().await.map_err(s3_err)?;
        out.upload_id.ok_or_else(|| StorageError::S3("no upload id returned".into()))
    }

    pub async fn presign_part(
        &self,
        key: &str,
        upload_id: &str,
        part_number: i32,
        expires: Duration,
    ) -> StorageResult<SignedRequest> {
        let req = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(part_number)
            .presigned(Self::presigning(expires)?)
            .await
            .map_err(s3_err)?;
        Ok(signed(&req))
    }

    pub async fn complete_multipart(&self, key: &str, upload_id: &str, parts: &[(i32, String)]) -> StorageResult<()> {
        let parts =
            parts.iter().map(|(n, etag)| CompletedPart::builder().part_number(*n).e_tag(etag).build()).collect();
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
            .send()
            .await
            .map_err(s3_err)?;
        Ok(())
    }

    pub async fn abort_multipart(&self, key: &str, upload_id: &str) {
        let _ = self.client.abort_multipart_upload().bucket(&self.bucket).key(key).upload_id(upload_id).send().await;
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

    /// The object's bytes as they come from S3, for serving through the reports origin.
    pub async fn stream(&self, key: &str) -> StorageResult<ObjectStream> {
        let out = self.client.get_object().bucket(&self.bucket).key(key).send().await.map_err(|e| {
            if e.as_service_error().is_some_and(|s| s.is_no_such_key()) { StorageError::NotFound } else { s3_err(e) }
        })?;
        Ok(ObjectStream { length: out.content_length, body: out.body })
    }

    pub async fn delete(&self, key: &str) -> StorageResult<()> {
        self.client.delete_object().bucket(&self.bucket).key(key).send().await.map_err(s3_err)?;
        Ok(())
    }

    /// A short-lived GET URL that answers with the given content type and disposition.
    pub async fn presign_get(
        &self,
        key: &str,
        content_type: &str,
        content_disposition: Option<&str>,
        expires: Duration,
    ) -> StorageResult<String> {
        let req = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .response_content_type(content_type)
            .set_response_content_disposition(content_disposition.map(str::to_owned))
            .presigned(Self::presigning(expires)?)
            .await
            .map_err(s3_err)?;
        Ok(req.uri().to_string())
    }
}

fn signed(req: &aws_sdk_s3::presigning::PresignedRequest) -> SignedRequest {
    SignedRequest {
        url: req.uri().to_string(),
        headers: req.headers().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
    }
}
