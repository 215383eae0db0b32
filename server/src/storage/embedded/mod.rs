//! The embedded S3 server (crate `vitrine-s3`) as this server reaches it: through the same
//! [`Storage`](super::Storage) client as any S3 service (`serve.rs` starts and serves it).

#[cfg(test)]
#[allow(clippy::too_many_lines)] // a test tells its story in one function
mod tests;

pub use vitrine_s3::{BUCKET, EmbeddedCredentials, LocalStore, REGION, read_env_file};

use super::S3Settings;

/// How the server's S3 client reaches an embedded store.
pub fn settings(credentials: &EmbeddedCredentials) -> S3Settings {
    S3Settings {
        endpoint: Some(credentials.endpoint.clone()),
        bucket: BUCKET.to_owned(),
        region: REGION.to_owned(),
        credentials: Some((credentials.access_key.clone(), credentials.secret_key.clone())),
        path_style: true,
        public_endpoint: None,
    }
}
