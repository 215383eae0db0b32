//! Artifact bytes in S3. Owns the key layout: keys are short and opaque, never built from
//! user-supplied paths (which live in the database).
//!
//! - `b/<uuid>`: one object per upload, written once by an agent through a presigned URL that
//!   fixes its size, its SHA-256 and `If-None-Match: *`. A store that enforces those (probed at
//!   start-up, see [`StoreGuarantees`]) refuses other bytes and any overwrite, so the server
//!   verifies with a HEAD. Otherwise the server copies the object to a fresh `b/<uuid>` for
//!   which no URL was ever issued and hashes that copy.

pub mod embedded;
mod error;
mod get_signer;
mod objects;
mod probe;
mod uploads;

use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};

use error::s3_err;
pub use error::{StorageError, StorageResult};
use get_signer::GetSigner;

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

/// How long connecting to the S3 service may take.
pub const S3_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long one attempt of an S3 call may take until its response starts.
pub const S3_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an S3 call may take in all, retries included.
pub const S3_OPERATION_TIMEOUT: Duration = Duration::from_secs(20);

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
}
