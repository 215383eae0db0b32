use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt, TryStreamExt};

use super::views::ArtifactEntry;
use crate::core::artifacts::{Follower, REDIRECT_MAX_AGE, Reader};
use crate::core::listings::{self, ListingKey, Part};
use crate::core::{Principal, ServiceResult, Vitrine};
use crate::http::error::ApiResult;
use crate::http::extract::{ArtifactAt, BuildAt, ClientAddr};
use crate::http::kept::kept_listing;
use crate::http::state::AppState;
use vitrine_store::{Build, Project};
use vitrine_wire::agent::ErrorBody;

/// `GET /api/v1.1/project/:vcs/:org/:repo/:build_num/artifacts` (also `latest`): one JSON
/// array of every artifact, as CircleCI answers. A finished build's is sent from the cache
/// of compressed listings, with an ETag (`304` to a client that has it); a running build's
/// is streamed a page of rows at a time.
#[utoipa::path(get, path = "/api/v1.1/project/{vcs}/{org}/{repo}/{build_num}/artifacts", tag = "v1.1",
    params(crate::http::extract::BuildAt),
    responses(
        (status = 200, description = "Every artifact of the build (finished builds: with an `ETag`)", body = Vec<ArtifactEntry>),
        (status = 304, description = "Unchanged since the `If-None-Match` given"),
        (status = 401, description = "The token is not valid", body = ErrorBody), (status = 404, description = "No such project or build, or not visible to the caller", body = ErrorBody)))]
pub async fn list_artifacts(
    State(state): State<AppState>,
    who: Principal,
    BuildAt { slug, build }: BuildAt,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let vitrine = &state.vitrine;
    let (project, build) = vitrine.builds().find_build(&who, &slug, &build).await?;
    // Answers differ by who asks only in whether they are allowed at all.
    let cache_control = if project.public { "public, no-cache" } else { "private, no-cache" };
    if build.status.is_finished() {
        let json = listing_json(vitrine, project.clone(), build.clone());
        let key = ListingKey { build_id: build.id, listing_version: build.listing_version, part: Part::Whole };
        let kept = vitrine.artifacts().listings().get_or_make(key, listings::compress(json)).await;
        if let Some(listing) = kept? {
            return Ok(kept_listing(&listing, &headers, cache_control));
        }
    }
    let cache_control = if build.status.is_finished() { cache_control } else { "no-store" };
    let body = listing_json(vitrine, project, build).map(|chunk| {
        // Past the status line, a failure can only cut the answer short, which a client sees.
        chunk.map_err(|e| {
            tracing::error!(error = %e, "a listing failed midway");
            std::io::Error::other("the listing could not be read to its end")
        })
    });
    Ok(([(header::CONTENT_TYPE, "application/json"), (header::CACHE_CONTROL, cache_control)], Body::from_stream(body))
        .into_response())
}

/// A build's listing as JSON, a page of rows at a time.
fn listing_json(
    vitrine: &Vitrine,
    project: Project,
    build: Build,
) -> impl Stream<Item = ServiceResult<Bytes>> + Send + 'static {
    let url = vitrine.settings().public_url.clone();
    let mut first = true;
    let entries = vitrine.artifacts().artifact_pages(build.id).map_ok(move |page| {
        let mut chunk = Vec::with_capacity(page.len() * 256);
        for a in &page {
            if !std::mem::take(&mut first) {
                chunk.push(b',');
            }
            serde_json::to_writer(&mut chunk, &ArtifactEntry::new(&url, &project, build.build_num, a))
                .expect("an entry serializes");
        }
        Bytes::from(chunk)
    });
    let bracket = |b: &'static [u8]| futures::stream::once(async move { Ok(Bytes::from_static(b)) });
    bracket(b"[").chain(entries).chain(bracket(b"]"))
}

/// `GET /api/v1.1/project/:vcs/:org/:repo/:build_num/artifacts/:node_index/*path`:
/// checks access, then redirects to a short-lived signed S3 URL.
#[utoipa::path(get, path = "/api/v1.1/project/{vcs}/{org}/{repo}/{build_num}/artifacts/{node_index}/{*path}", tag = "v1.1",
    params(crate::http::extract::ArtifactAt),
    responses(
        (status = 302, description = "To a short-lived signed URL of the bytes (or, for a page opened in a browser, to the artifacts origin)"),
        (status = 401, description = "The token is not valid", body = ErrorBody), (status = 404, description = "No such project or build, or not visible to the caller", body = ErrorBody)))]
pub async fn get_artifact(
    State(state): State<AppState>,
    who: Principal,
    ArtifactAt(at): ArtifactAt,
    ClientAddr(client): ClientAddr,
    reader: Reader,
) -> ApiResult<Response> {
    let follower = Follower { reader, client };
    let url = state.vitrine.artifacts().artifact_download_url(&who, &at, follower).await?;
    // The browser may follow it again for a while: never past the URL's own expiry. Where
    // it leads depends on how the link is opened.
    static CACHE_CONTROL: std::sync::LazyLock<HeaderValue> = std::sync::LazyLock::new(|| {
        HeaderValue::from_str(&format!("private, max-age={}", REDIRECT_MAX_AGE.as_secs())).expect("ASCII")
    });
    let location = HeaderValue::from_maybe_shared(url)
        .map_err(|e| crate::core::ServiceError::Internal(anyhow::anyhow!("a signed URL is not a header: {e}")))?;
    let mut response = Response::new(axum::body::Body::empty());
    *response.status_mut() = StatusCode::FOUND;
    let headers = response.headers_mut();
    // Room for the outer layers' headers too (security headers, the request id): one
    // allocation for the map.
    headers.reserve(12);
    headers.insert(header::LOCATION, location);
    headers.insert(header::CACHE_CONTROL, CACHE_CONTROL.clone());
    headers.insert(header::VARY, HeaderValue::from_static("Sec-Fetch-Mode, Accept"));
    Ok(response)
}

/// Who follows the link: a browser opening it as a page (not an `<img>`, not a script), which
/// browsers say in `Sec-Fetch-Mode` and older ones only by asking for HTML first, or anything
/// else. Read from those two headers alone (the route's hottest path clones no header map).
impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Reader {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        let value = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
        let page = match value("sec-fetch-mode") {
            Some(mode) => mode == "navigate",
            None => value("accept").is_some_and(|accept| accept.starts_with("text/html")),
        };
        Ok(if page { Reader::Browser } else { Reader::Download })
    }
}
