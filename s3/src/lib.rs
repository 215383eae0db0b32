//! The S3-compatible server `vitrine serve` starts when no S3 endpoint is configured: s3s (HTTP,
//! SigV4 checks, CORS) over Vitrine's own filesystem store under `<data-dir>/store` (`store/`
//! for the files, `s3/` for the operations, `access.rs` for what a presigned URL may do).
//! [`open`] binds and opens it, and answers the listener and the service for the caller to
//! serve with its own accept loop.

mod access;
pub mod backup;
mod import;
mod s3;
mod store;

use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use rand::Rng;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use tokio::net::TcpListener;
use tower_http::cors::CorsLayer;

use store::FsStore;

pub const BUCKET: &str = "vitrine";
pub const REGION: &str = "us-east-1";

/// Keys and address of an embedded store, as written to `<data-dir>/embedded-s3.env`.
#[derive(Clone)]
pub struct EmbeddedCredentials {
    pub endpoint: String,
    pub access_key: String,
    pub secret_key: String,
}

pub fn env_file(data_dir: &Path) -> PathBuf {
    data_dir.join("embedded-s3.env")
}

fn random_key(len: usize) -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut rng = rand::thread_rng();
    (0..len).map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char).collect()
}

/// Reads the keys a previous run wrote, if any.
pub fn read_env_file(data_dir: &Path) -> Option<EmbeddedCredentials> {
    let text = std::fs::read_to_string(env_file(data_dir)).ok()?;
    let get = |name: &str| text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix('=')).map(str::to_owned);
    Some(EmbeddedCredentials {
        endpoint: get("AWS_ENDPOINT_URL")?,
        access_key: get("AWS_ACCESS_KEY_ID")?,
        secret_key: get("AWS_SECRET_ACCESS_KEY")?,
    })
}

fn write_env_file(data_dir: &Path, creds: &EmbeddedCredentials) -> anyhow::Result<()> {
    use std::io::Write;
    let path = env_file(data_dir);
    let tmp = path.with_extension("env.tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    write!(
        file,
        "AWS_ENDPOINT_URL={}\nAWS_ACCESS_KEY_ID={}\nAWS_SECRET_ACCESS_KEY={}\nAWS_REGION={REGION}\nVITRINE_S3_BUCKET={BUCKET}\n",
        creds.endpoint, creds.access_key, creds.secret_key
    )?;
    file.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    Ok(())
}

/// The HTTP service of the store: s3s behind a CORS layer.
pub type Service = tower_http::cors::Cors<s3s::service::S3Service>;

pub struct EmbeddedS3 {
    pub credentials: EmbeddedCredentials,
    pub addr: SocketAddr,
    /// The store itself, for the server that runs it: HEADs read its files.
    pub local: LocalStore,
}

/// What the store holds for an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    pub size: u64,
    /// Hex SHA-256 of the bytes.
    pub sha256: String,
}

/// The embedded store as seen by the server that runs it: an object's facts read from its file,
/// without a round trip through HTTP and SigV4 (what a HEAD would answer, at a fraction of the
/// cost: it runs once per uploaded file).
#[derive(Clone, Debug)]
pub struct LocalStore {
    store: FsStore,
}

impl LocalStore {
    /// What the store holds under `key`, or none.
    pub async fn facts(&self, bucket: &str, key: &str) -> anyhow::Result<Option<StoredObject>> {
        let (store, bucket, key) = (self.store.clone(), bucket.to_owned(), key.to_owned());
        let found = tokio::task::spawn_blocking(move || {
            let path = store.object_path(&bucket, &key)?;
            FsStore::open_object(&path, &key)
        })
        .await?
        .map_err(|e| anyhow::anyhow!("embedded store: {e:?}"))?;
        Ok(found.map(|(_, record)| StoredObject { size: record.size, sha256: record.sha256 }))
    }
}

/// Binds `addr` and opens the store (importing an s3s-fs one from earlier versions). Keys are
/// kept across restarts. Answers the store, the listener (bound, not accepting yet) and the
/// service to serve on it.
pub async fn open(data_dir: &Path, addr: SocketAddr) -> anyhow::Result<(EmbeddedS3, TcpListener, Service)> {
    // Bind first: a second server that only shares this store must not touch its files.
    let listener =
        TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr} for the embedded S3 server"))?;
    let root = data_dir.join("store");
    let store = {
        let (root, data_dir) = (root.clone(), data_dir.to_owned());
        tokio::task::spawn_blocking(move || -> anyhow::Result<FsStore> {
            let store = FsStore::open(&root).with_context(|| format!("cannot open {}", root.display()))?;
            store.create_bucket(BUCKET).map_err(|e| anyhow::anyhow!("cannot create the bucket: {e:?}"))?;
            import::import_s3s_fs(&data_dir, &store)?;
            Ok(store)
        })
        .await??
    };
    let addr = listener.local_addr()?;
    let previous = read_env_file(data_dir);
    let credentials = EmbeddedCredentials {
        endpoint: format!("http://{addr}"),
        access_key: previous.as_ref().map_or_else(|| random_key(20), |p| p.access_key.clone()),
        secret_key: previous.map_or_else(|| random_key(40), |p| p.secret_key),
    };
    write_env_file(data_dir, &credentials)?;

    let local = LocalStore { store: store.clone() };
    let mut builder = S3ServiceBuilder::new(store);
    builder.set_auth(SimpleAuth::from_single(credentials.access_key.clone(), credentials.secret_key.clone()));
    builder.set_access(access::SignedScope);
    let s3 = builder.build();
    // Browsers upload and download straight from here; s3s itself answers no CORS.
    let service = tower::ServiceBuilder::new()
        .layer(CorsLayer::very_permissive().expose_headers([http::header::ETAG]))
        .service(s3);
    tracing::info!(%addr, root = %root.display(), "embedded S3 server listening");
    Ok((EmbeddedS3 { credentials, addr, local }, listener, service))
}
