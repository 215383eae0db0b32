//! Listings of finished builds (the v1.1 listing, the v2 listing's pages), kept as the gzip
//! bytes they are sent as, with their ETags.
//!
//! A finished build's listing changes only when a purge or the retention removes artifacts,
//! and both raise the build's `listing_version`: the cache is keyed by (build, version), so a
//! server sees the change with the build's row (at most [`super::lookups::FRESH_FOR`] late)
//! and a stale listing is never answered again once the new version is known. The cache is
//! bounded in bytes; a listing too large to keep is streamed from the database each time, as
//! a running build's is.

use std::sync::Arc;
use vitrine_store::BuildId;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use sha2::{Digest, Sha256};

/// Compressed bytes the cache holds at most.
pub const CACHE_BYTES: u64 = 64 << 20;
/// A listing larger than this compressed is not kept (it would crowd out the others).
pub const LARGEST_KEPT: usize = (CACHE_BYTES / 8) as usize;

/// A listing as sent: gzip, with the ETag of its uncompressed JSON.
#[derive(Debug)]
pub struct Listing {
    pub gzip: Bytes,
    /// Quoted, as the header carries it.
    pub etag: String,
}

impl Listing {
    /// Does an `If-None-Match` header name this listing (weak or strong, or `*`)?
    pub fn matches(&self, if_none_match: &str) -> bool {
        if_none_match.split(',').map(str::trim).any(|tag| tag == "*" || tag.trim_start_matches("W/") == self.etag)
    }
}

/// Which listing of which state of a finished build.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ListingKey {
    pub build_id: BuildId,
    pub listing_version: i64,
    pub part: Part,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Part {
    /// The v1.1 listing: every artifact.
    Whole,
    /// A page of the v2 listing, by its `page-token` (empty: the first).
    Page(String),
}

#[derive(Clone)]
pub struct Weigh;

impl quick_cache::Weighter<ListingKey, Arc<Listing>> for Weigh {
    fn weight(&self, key: &ListingKey, listing: &Arc<Listing>) -> u64 {
        let token = match &key.part {
            Part::Whole => 0,
            Part::Page(token) => token.len(),
        };
        (listing.gzip.len() + listing.etag.len() + token + 128) as u64
    }
}

/// Finished builds' listings by [`ListingKey`], at most [`CACHE_BYTES`] of them.
pub type ListingCache = super::lookups::Kept<ListingKey, Listing, Weigh>;

impl Default for ListingCache {
    fn default() -> Self {
        Self::new("listings", 4096, CACHE_BYTES, LARGEST_KEPT as u64 + 1024, Weigh)
    }
}

/// Compresses a listing as it is read (one page of rows at a time, off the async threads),
/// hashing the JSON for its ETag; `None` once it grows past [`LARGEST_KEPT`] compressed.
pub async fn compress<E>(json: impl Stream<Item = Result<Bytes, E>>) -> Result<Option<Listing>, E> {
    use std::io::Write;
    let mut json = std::pin::pin!(json);
    let mut state = Some((flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6)), Sha256::new()));
    while let Some(chunk) = json.next().await {
        let chunk = chunk?;
        let (mut gzip, mut hash) = state.take().expect("put back after each chunk");
        let (gzip, hash) = tokio::task::spawn_blocking(move || {
            hash.update(&chunk);
            gzip.write_all(&chunk).expect("writing to memory");
            (gzip, hash)
        })
        .await
        .expect("compression does not panic");
        if gzip.get_ref().len() > LARGEST_KEPT {
            return Ok(None);
        }
        state = Some((gzip, hash));
    }
    let (gzip, hash) = state.expect("put back after each chunk");
    let gzip = gzip.finish().expect("writing to memory");
    let digest = hash.finalize();
    Ok(Some(Listing { gzip: Bytes::from(gzip), etag: format!("\"{}\"", hex::encode(&digest[..16])) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn listings_compress_to_what_they_said_with_a_stable_etag() {
        use std::io::Read;
        let chunks =
            || futures::stream::iter(["[", "{\"a\":1}", ",{\"b\":2}", "]"].map(|c| Ok::<_, ()>(Bytes::from(c))));
        let one = compress(chunks()).await.unwrap().unwrap();
        let two = compress(chunks()).await.unwrap().unwrap();
        assert_eq!(one.etag, two.etag);
        let mut json = String::new();
        flate2::read::GzDecoder::new(&one.gzip[..]).read_to_string(&mut json).unwrap();
        assert_eq!(json, "[{\"a\":1},{\"b\":2}]");
        assert!(one.matches(&one.etag) && one.matches(&format!("W/{}, \"x\"", one.etag)) && one.matches("*"));
        assert!(!one.matches("\"other\""));
    }
}
