//! Listings of finished builds as the cache keeps them (gzip, with an ETag): answered with
//! `304` to a client that has the listing, else as they are kept.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::core::listings::Listing;
use crate::http::policy::accepts_gzip;

/// A kept listing: `304` when the client has it, else its gzip bytes (decompressed as they
/// are sent for the rare client that takes no gzip).
pub fn kept_listing(listing: &Listing, headers: &HeaderMap, cache_control: &'static str) -> Response {
    let header = |name| headers.get(name).and_then(|v: &HeaderValue| v.to_str().ok());
    let etag = HeaderValue::from_str(&listing.etag).expect("hex in quotes");
    let common = [
        (header::ETAG, etag),
        (header::CACHE_CONTROL, HeaderValue::from_static(cache_control)),
        (header::VARY, HeaderValue::from_static("Accept-Encoding")),
    ];
    if header(header::IF_NONE_MATCH).is_some_and(|tags| listing.matches(tags)) {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    let json = HeaderValue::from_static("application/json");
    if header(header::ACCEPT_ENCODING).is_some_and(accepts_gzip) {
        let gzip = [(header::CONTENT_TYPE, json), (header::CONTENT_ENCODING, HeaderValue::from_static("gzip"))];
        return (common, gzip, listing.gzip.clone()).into_response();
    }
    let compressed = futures::stream::once(std::future::ready(Ok::<_, std::io::Error>(listing.gzip.clone())));
    let reader = async_compression::tokio::bufread::GzipDecoder::new(tokio_util::io::StreamReader::new(compressed));
    (common, [(header::CONTENT_TYPE, json)], Body::from_stream(tokio_util::io::ReaderStream::new(reader)))
        .into_response()
}
