//! Artifact bytes in S3. Owns the key layout: keys are short and opaque, never built from
//! user-supplied paths (which live in the database).
//!
//! - `b/<uuid>`: one object per upload, written once by an agent through a presigned URL that
//!   fixes its size, its SHA-256 and `If-None-Match: *`. A store that enforces those (probed at
//!   start-up, see [`StoreGuarantees`]) refuses other bytes and any overwrite, so the server
//!   verifies with a HEAD. Otherwise the server copies the object to a fresh `b/<uuid>` for
//!   which no URL was ever issued and hashes that copy.

pub mod embedded;

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode, ChecksumType, CompletedMultipartUpload, CompletedPart};
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
    /// The endpoint signed URLs name, when browsers and agents reach the store by another
    /// name than the server does (`None`: `endpoint`). The store must accept requests for
    /// that host (a proxy in front passes the `Host` header on), as SigV4 signs it.
    pub public_endpoint: Option<String>,
}

impl std::fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Settings")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("credentials", &self.credentials.as_ref().map(|(ak, _)| (ak, "<secret>")))
            .field("public_endpoint", &self.public_endpoint)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("object not found")]
    NotFound,
    #[error("S3 request failed: {0}")]
    S3(String),
}

/// How long connecting to the S3 service may take.
pub const S3_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long one attempt of an S3 call may take until its response starts.
pub const S3_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an S3 call may take in all, retries included.
pub const S3_OPERATION_TIMEOUT: Duration = Duration::from_secs(20);

fn s3_err<E: std::fmt::Debug>(e: E) -> StorageError {
    StorageError::S3(format!("{e:?}"))
}

pub type StorageResult<T> = Result<T, StorageError>;

pub use vitrine_wire::agent::SignedRequest;

/// What the store proved it enforces, probed once at start-up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreGuarantees {
    /// A PUT whose bytes do not match its signed `x-amz-checksum-sha256` is refused, and
    /// `If-None-Match: *` refuses a PUT over an existing object.
    pub checked_puts: bool,
    /// A completed multipart upload reports the whole object's SHA-256 (not a checksum of
    /// part checksums), so a HEAD proves its content.
    pub whole_multipart_sha256: bool,
    /// A PUT that carries no SHA-256 checksum still gets its whole SHA-256 recorded and
    /// reported, so a file hashed while it was sent can be verified with a HEAD.
    pub sha256_of_every_put: bool,
}

/// What a HEAD tells about a stored object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectFacts {
    pub size: u64,
    /// Hex SHA-256 of the whole object, when the store reports one.
    pub sha256: Option<String>,
}

/// Hex SHA-256 → the base64 form S3's checksum headers carry.
pub fn sha256_base64(hex_digest: &str) -> StorageResult<String> {
    use base64::Engine;
    let raw = hex::decode(hex_digest).map_err(|_| StorageError::S3(format!("not a hex SHA-256: {hex_digest}")))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(raw))
}

fn sha256_hex_from_base64(b64: &str) -> Option<String> {
    use base64::Engine;
    let raw = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    (raw.len() == 32).then(|| hex::encode(raw))
}

pub struct ObjectStream {
    pub length: Option<i64>,
    pub body: aws_sdk_s3::primitives::ByteStream,
}

#[derive(Clone, Debug)]
pub struct Storage {
    client: Client,
    /// Signs the URLs handed to agents and browsers: `client` at the public endpoint.
    presigner: Client,
    bucket: String,
    /// Signs the download URLs of the artifact route, the read path's hottest call.
    get_signer: GetSigner,
    /// The embedded store, when this server runs it: HEADs read its files directly.
    local: Option<embedded::LocalStore>,
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
        // An S3 service that does not answer fails the request in bounded time (503 to the
        // client) instead of holding it; the SDK retries transient errors within these bounds.
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(S3_CONNECT_TIMEOUT)
            .operation_attempt_timeout(S3_ATTEMPT_TIMEOUT)
            .operation_timeout(S3_OPERATION_TIMEOUT)
            .build();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http_client)
            .timeout_config(timeouts)
            .region(Region::new(settings.region.clone()));
        if let Some((ak, sk)) = &settings.credentials {
            loader = loader.credentials_provider(Credentials::new(ak, sk, None, None, "vitrine"));
        }
        if let Some(endpoint) = &settings.endpoint {
            loader = loader.endpoint_url(endpoint);
        }
        let shared = loader.load().await;
        let config = || {
            aws_sdk_s3::config::Builder::from(&shared)
                .force_path_style(settings.path_style)
                // Reads are hashed by the server itself where it matters (verifying an upload);
                // the SDK's own check of a stored checksum fails on stores that answer a
                // multipart object's composite checksum as a whole-object one (moto does).
                .response_checksum_validation(aws_sdk_s3::config::ResponseChecksumValidation::WhenRequired)
                .interceptor(crate::observe::S3Requests)
        };
        let client = Client::from_conf(config().build());
        let presigner = match &settings.public_endpoint {
            Some(public) => Client::from_conf(config().endpoint_url(public).build()),
            None => client.clone(),
        };
        let get_signer = GetSigner::new(&presigner, &settings.bucket, &settings.region, shared.credentials_provider())
            .await
            .map_err(|e| anyhow::anyhow!("cannot sign S3 URLs: {e}"))?;
        Ok(Storage { client, presigner, bucket: settings.bucket.clone(), get_signer, local: None })
    }

    /// Reads the facts of objects straight from the embedded store this server runs.
    pub fn with_local(mut self, local: Option<embedded::LocalStore>) -> Storage {
        self.local = local;
        self
    }

    /// Whether the store answers for the bucket now (`/readyz`).
    pub async fn ready(&self) -> StorageResult<()> {
        self.client.head_bucket().bucket(&self.bucket).send().await.map_err(s3_err)?;
        Ok(())
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

    /// Finds out what the store enforces, with throw-away objects under `probe/`: a PUT with
    /// a wrong checksum, a second `If-None-Match: *` PUT, a PUT with no checksum, and a
    /// one-part multipart upload.
    pub async fn probe(&self) -> StoreGuarantees {
        let key = format!("probe/{}", uuid::Uuid::new_v4().simple());
        let body = b"vitrine store probe";
        let sha = hex::encode(Sha256::digest(body));
        let wrong = hex::encode(Sha256::digest(b"something else"));
        let put = |sha256: String| {
            let key = key.clone();
            async move {
                self.client
                    .put_object()
                    .bucket(&self.bucket)
                    .key(&key)
                    .checksum_sha256(sha256_base64(&sha256)?)
                    .if_none_match("*")
                    .body(body.to_vec().into())
                    .send()
                    .await
                    .map_err(s3_err)
            }
        };
        let wrong_refused = put(wrong).await.is_err() && matches!(self.head(&key).await, Err(StorageError::NotFound));
        let first = put(sha.clone()).await.is_ok();
        let second_refused = put(sha.clone()).await.is_err();
        let reported = self.head(&key).await.ok().and_then(|f| f.sha256).is_some_and(|s| s == sha);
        let _ = self.delete(&key).await;
        let checked_puts = wrong_refused && first && second_refused && reported;

        let plain_key = format!("{key}-plain");
        let sha256_of_every_put = async {
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(&plain_key)
                .body(body.to_vec().into())
                .send()
                .await
                .map_err(s3_err)?;
            Ok::<_, StorageError>(self.head(&plain_key).await?.sha256.is_some_and(|s| s == sha))
        }
        .await
        .unwrap_or(false);
        let _ = self.delete(&plain_key).await;

        let mp_key = format!("{key}-mp");
        let whole_multipart_sha256 = async {
            let id = self.create_multipart(&mp_key).await?;
            let part = self
                .client
                .upload_part()
                .bucket(&self.bucket)
                .key(&mp_key)
                .upload_id(&id)
                .part_number(1)
                .checksum_sha256(sha256_base64(&sha)?)
                .body(body.to_vec().into())
                .send()
                .await
                .map_err(s3_err)?;
            let etag = part.e_tag.unwrap_or_default();
            self.complete_multipart(&mp_key, &id, &[(1, etag, sha.clone())]).await?;
            Ok::<_, StorageError>(self.head(&mp_key).await?.sha256.is_some_and(|s| s == sha))
        }
        .await
        .unwrap_or(false);
        let _ = self.delete(&mp_key).await;
        let guarantees = StoreGuarantees { checked_puts, whole_multipart_sha256, sha256_of_every_put };
        tracing::info!(?guarantees, "probed what the S3 store enforces");
        guarantees
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

fn signed(req: &aws_sdk_s3::presigning::PresignedRequest) -> SignedRequest {
    SignedRequest {
        url: req.uri().to_string(),
        headers: req.headers().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
    }
}

/// Percent-encodes all but S3's unreserved characters (`A-Z a-z 0-9 - _ . ~`).
const UNRESERVED: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');
/// Keys keep their `/`.
const KEY: &percent_encoding::AsciiSet = &UNRESERVED.remove(b'/');
/// Credentials this close to their expiry are fetched again before signing.
const CREDENTIALS_MARGIN: Duration = Duration::from_secs(300);
/// A key that only shows where the SDK puts a key in a URL.
const PROBE_KEY: &str = "vitrine-probe";

/// Signs GET URLs with SigV4 straight from the key, for the artifact route, the read path's
/// hottest call. The SDK's presigning builds a whole operation per URL (endpoint resolution,
/// interceptors, a request), and even `aws-sigv4`'s generic `sign` builds and sorts a
/// canonical request of owned strings and derives the signing key (four HMACs) each time:
/// most of the route's time. Here the URL's shape is fixed (a GET, the `host` header, two
/// response overrides), so its canonical form is written in one buffer in sorted order, and
/// the signing key is derived once a day with `aws-sigv4`'s own primitives. Where a key goes
/// in a URL (path-style or virtual-hosted, the endpoint) is learned once from one URL the
/// SDK presigns; a unit test checks every signature against `aws-sigv4`'s `sign`.
#[derive(Clone)]
struct GetSigner {
    /// The bucket's URL up to where the key goes, and its path and `host` as signed.
    base: Arc<str>,
    path: Arc<str>,
    host: Arc<str>,
    region: Arc<str>,
    provider: Option<aws_credential_types::provider::SharedCredentialsProvider>,
    today: Arc<std::sync::RwLock<Option<Arc<SigningDay>>>>,
}

/// The credentials of the day and the signing key derived from them for that date.
struct SigningDay {
    day: chrono::NaiveDate,
    /// `day` as SigV4 writes it (`20261125`).
    date: String,
    key: [u8; 32],
    credentials: Credentials,
}

impl std::fmt::Debug for GetSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GetSigner").field("base", &self.base).finish_non_exhaustive()
    }
}

impl GetSigner {
    async fn new(
        client: &Client,
        bucket: &str,
        region: &str,
        provider: Option<aws_credential_types::provider::SharedCredentialsProvider>,
    ) -> StorageResult<GetSigner> {
        let probe = client
            .get_object()
            .bucket(bucket)
            .key(PROBE_KEY)
            .presigned(PresigningConfig::expires_in(Duration::from_secs(60)).map_err(s3_err)?)
            .await
            .map_err(s3_err)?;
        let url = probe.uri().split('?').next().unwrap_or_default();
        let base = url
            .strip_suffix(PROBE_KEY)
            .ok_or_else(|| StorageError::S3(format!("unexpected presigned URL shape: {url}")))?;
        GetSigner::at(base, region, provider)
    }

    fn at(
        base: &str,
        region: &str,
        provider: Option<aws_credential_types::provider::SharedCredentialsProvider>,
    ) -> StorageResult<GetSigner> {
        let uri: http::Uri = base.parse().map_err(|e| StorageError::S3(format!("bad S3 URL {base}: {e}")))?;
        let authority = uri.authority().ok_or_else(|| StorageError::S3(format!("no host in {base}")))?;
        let default_port = match uri.scheme_str() {
            Some("https") => Some(443),
            _ => Some(80),
        };
        let host = if authority.port_u16() == default_port { authority.host() } else { authority.as_str() };
        Ok(GetSigner {
            base: base.into(),
            path: uri.path().into(),
            host: host.into(),
            region: region.into(),
            provider,
            today: Arc::new(std::sync::RwLock::new(None)),
        })
    }

    /// Today's signing key, derived again when the date changes or the credentials near
    /// their expiry.
    async fn signing_day(&self, now: chrono::DateTime<chrono::Utc>) -> StorageResult<Arc<SigningDay>> {
        use aws_credential_types::provider::ProvideCredentials;
        let today = now.date_naive();
        let fresh = |day: &SigningDay| {
            day.day == today
                && day.credentials.expiry().is_none_or(|at| at > std::time::SystemTime::from(now) + CREDENTIALS_MARGIN)
        };
        if let Some(day) = self.today.read().expect("not poisoned").as_ref().filter(|d| fresh(d)) {
            return Ok(day.clone());
        }
        let provider = self.provider.as_ref().ok_or_else(|| StorageError::S3("no AWS credentials".into()))?;
        let credentials = provider.provide_credentials().await.map_err(s3_err)?;
        let key =
            aws_sigv4::sign::v4::generate_signing_key(credentials.secret_access_key(), now.into(), &self.region, "s3");
        let key: [u8; 32] = key.as_ref().try_into().map_err(s3_err)?;
        let date = today.format("%Y%m%d").to_string();
        let day = Arc::new(SigningDay { day: today, date, key, credentials });
        *self.today.write().expect("not poisoned") = Some(day.clone());
        Ok(day)
    }

    async fn sign(
        &self,
        key: &str,
        content_type: &str,
        content_disposition: Option<&str>,
        expires: Duration,
    ) -> StorageResult<String> {
        let now = chrono::Utc::now();
        let day = self.signing_day(now).await?;
        Ok(self.sign_at(&day, now, key, content_type, content_disposition, expires))
    }

    fn sign_at(
        &self,
        day: &SigningDay,
        now: chrono::DateTime<chrono::Utc>,
        key: &str,
        content_type: &str,
        content_disposition: Option<&str>,
        expires: Duration,
    ) -> String {
        use std::fmt::Write;

        use percent_encoding::utf8_percent_encode as encode;
        // chrono's `format` parses its pattern on every call: written out, it costs nothing.
        use chrono::Timelike;
        let (hour, minute, second) = (now.hour(), now.minute(), now.second());
        let amz_date = format_args!("{}T{hour:02}{minute:02}{second:02}Z", day.date);
        let scope = format_args!("{}/{}/s3/aws4_request", day.date, self.region);
        // The query in canonical order (by name, bytes: `X-Amz-…` before `response-…`).
        let mut query = String::with_capacity(512);
        let _ = write!(
            query,
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={}%2F{}%2F{}%2Fs3%2Faws4_request&X-Amz-Date={amz_date}\
             &X-Amz-Expires={}",
            encode(day.credentials.access_key_id(), UNRESERVED),
            day.date,
            self.region,
            expires.as_secs()
        );
        if let Some(token) = day.credentials.session_token() {
            let _ = write!(query, "&X-Amz-Security-Token={}", encode(token, UNRESERVED));
        }
        query.push_str("&X-Amz-SignedHeaders=host");
        if let Some(disposition) = content_disposition {
            let _ = write!(query, "&response-content-disposition={}", encode(disposition, UNRESERVED));
        }
        let _ = write!(query, "&response-content-type={}", encode(content_type, UNRESERVED));
        let key = encode(key, KEY);
        let mut canonical = Sha256::new();
        let mut hashed = String::with_capacity(1024);
        let _ = write!(hashed, "GET\n{}{key}\n{query}\nhost:{}\n\nhost\nUNSIGNED-PAYLOAD", self.path, self.host);
        canonical.update(hashed.as_bytes());
        hashed.clear();
        let _ = write!(hashed, "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}", hex::encode(canonical.finalize()));
        let signature = aws_sigv4::sign::v4::calculate_signature(day.key, hashed.as_bytes());
        format!("{}{key}?{query}&X-Amz-Signature={signature}", self.base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The signature `aws-sigv4`'s generic `sign` gives the same request at the same time.
    fn reference_signature(url: &str, credentials: &Credentials, region: &str, at: std::time::SystemTime) -> String {
        use aws_sigv4::http_request::{
            PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation,
            SigningSettings, UriPathNormalizationMode, sign,
        };
        let mut settings = SigningSettings::default();
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.payload_checksum_kind = PayloadChecksumKind::NoHeader;
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(Duration::from_secs(300));
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        let identity = credentials.clone().into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(region)
            .name("s3")
            .time(at)
            .settings(settings)
            .build()
            .unwrap()
            .into();
        let request = SignableRequest::new("GET", url, std::iter::empty(), SignableBody::UnsignedPayload).unwrap();
        let (instructions, _) = sign(request, &params).unwrap().into_parts();
        let found = instructions.params().iter().find(|(name, _)| *name == "X-Amz-Signature");
        found.expect("a signature").1.to_string()
    }

    #[test]
    fn fast_get_urls_carry_the_signature_aws_sigv4_computes() {
        let at = chrono::DateTime::parse_from_rfc3339("2026-11-25T06:30:00Z").unwrap().to_utc();
        let cases = [
            ("http://127.0.0.1:9000/artifacts/", None),
            ("https://artifacts.s3.eu-west-1.amazonaws.com/", Some("session/token+=")),
            ("http://minio.internal:80/bucket/", None),
        ];
        for (base, session) in cases {
            let credentials = Credentials::new(
                "AKIDEXAMPLE",
                "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                session.map(str::to_owned),
                None,
                "t",
            );
            let signer = GetSigner::at(base, "eu-west-1", None).unwrap();
            let key = aws_sigv4::sign::v4::generate_signing_key(
                credentials.secret_access_key(),
                at.into(),
                "eu-west-1",
                "s3",
            );
            let day = SigningDay {
                day: at.date_naive(),
                date: "20261125".into(),
                key: key.as_ref().try_into().unwrap(),
                credentials,
            };
            let disposition = "attachment; filename*=UTF-8''r%C3%A9sum%C3%A9 (1).html";
            for disposition in [Some(disposition), None] {
                let url = signer.sign_at(
                    &day,
                    at,
                    "b/0123abcd",
                    "text/html; charset=utf-8",
                    disposition,
                    Duration::from_secs(300),
                );
                let (unsigned, ours) = url.rsplit_once("&X-Amz-Signature=").unwrap();
                // The request as the SDK would hand it to the signer: the overrides only.
                let (path, query) = unsigned.split_once('?').unwrap();
                let overrides: Vec<&str> = query.split('&').filter(|p| !p.starts_with("X-Amz-")).collect();
                let request = format!("{path}?{}", overrides.join("&"));
                assert_eq!(ours, reference_signature(&request, &day.credentials, "eu-west-1", at.into()), "{url}");
                assert!(url.starts_with(&format!("{base}b/0123abcd?X-Amz-Algorithm=AWS4-HMAC-SHA256&")), "{url}");
            }
        }
        // The host as signed leaves out the scheme's default port.
        assert_eq!(&*GetSigner::at("http://minio.internal:80/b/", "r", None).unwrap().host, "minio.internal");
        assert_eq!(&*GetSigner::at("http://127.0.0.1:9000/b/", "r", None).unwrap().host, "127.0.0.1:9000");
    }
}
