//! What the S3 store proves it enforces, asked once at start-up.

use sha2::{Digest, Sha256};

use super::error::{StorageError, s3_err};
use super::{Storage, StoreGuarantees, sha256_base64};

impl Storage {
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
}
