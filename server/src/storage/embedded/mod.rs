//! The S3-compatible server `vitrine serve` starts when no S3 endpoint is configured: s3s (HTTP,
//! SigV4 checks, CORS) over Vitrine's own filesystem store under `<data-dir>/store` (`store.rs`
//! for the files, `s3.rs` for the operations).

mod access;
mod import;
mod s3;
mod store;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use rand::Rng;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use tokio::net::TcpListener;
use tower_http::cors::CorsLayer;

use super::{ObjectFacts, S3Settings, StorageError, StorageResult};
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

impl EmbeddedCredentials {
    pub fn settings(&self) -> S3Settings {
        S3Settings {
            endpoint: Some(self.endpoint.clone()),
            bucket: BUCKET.to_owned(),
            region: REGION.to_owned(),
            credentials: Some((self.access_key.clone(), self.secret_key.clone())),
            path_style: true,
            public_endpoint: None,
        }
    }
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
    let get =
        |name: &str| text.lines().filter_map(|l| l.strip_prefix(name)?.strip_prefix('=')).next().map(str::to_owned);
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

pub struct EmbeddedS3 {
    pub credentials: EmbeddedCredentials,
    pub addr: SocketAddr,
    /// The store itself, for the server that runs it.
    pub local: LocalStore,
}

/// The embedded store as seen by the server that runs it: an object's facts read from its file,
/// without a round trip through HTTP and SigV4 (what a HEAD would answer, at a fraction of the
/// cost: it runs once per uploaded file).
#[derive(Clone, Debug)]
pub struct LocalStore {
    store: FsStore,
}

impl LocalStore {
    pub async fn facts(&self, bucket: &str, key: &str) -> StorageResult<ObjectFacts> {
        let (store, bucket, key) = (self.store.clone(), bucket.to_owned(), key.to_owned());
        let found = tokio::task::spawn_blocking(move || {
            let path = store.object_path(&bucket, &key)?;
            store.open_object(&path, &key)
        })
        .await
        .map_err(|e| StorageError::S3(format!("embedded store: {e}")))?
        .map_err(|e| StorageError::S3(format!("embedded store: {e:?}")))?;
        match found {
            Some((_, record)) => Ok(ObjectFacts { size: record.size, sha256: Some(record.sha256) }),
            None => Err(StorageError::NotFound),
        }
    }
}

/// Opens the store (importing an s3s-fs one from earlier versions), binds `addr` and serves it in
/// the background. Keys are kept across restarts.
pub async fn start(
    data_dir: &Path,
    addr: SocketAddr,
    shutdown: crate::listen::ShutdownSignal,
) -> anyhow::Result<EmbeddedS3> {
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
        access_key: previous.as_ref().map(|p| p.access_key.clone()).unwrap_or_else(|| random_key(20)),
        secret_key: previous.map(|p| p.secret_key).unwrap_or_else(|| random_key(40)),
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
    tokio::spawn(crate::listen::serve(listener, "embedded S3", shutdown, move |_| service.clone()));
    tracing::info!(%addr, root = %root.display(), "embedded S3 server listening");
    Ok(EmbeddedS3 { credentials, addr, local })
}
