//! What the site serves besides pages: a folder (or a whole container) as one zip,
//! `GET /:vcs/:org/:repo/:build_num/download/:node_index?folder=reports/` (the build number
//! may be `latest`, with `branch` and `filter` as in the artifact routes), and an image's
//! pixel difference with the last green build's,
//! `GET /:vcs/:org/:repo/:build_num/compare/:node_index/*path`, and a Playwright trace opened in
//! the trace viewer, `GET /:vcs/:org/:repo/:build_num/trace/:node_index/*path`.

use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::core::Principal;
use crate::domain::{FolderPath, NodeIndex};
use crate::http::error::ApiResult;
use crate::http::extract::{ArtifactAt, BuildAt, ClientAddr, RouteParams};
use crate::http::state::AppState;

#[derive(Debug, Deserialize)]
pub struct ZipQuery {
    /// A folder of the container, ending in `/`; the whole container when absent.
    #[serde(default)]
    folder: String,
}

pub async fn download_zip(
    State(state): State<AppState>,
    who: Principal,
    BuildAt { slug, build }: BuildAt,
    params: RouteParams,
    Query(q): Query<ZipQuery>,
    ClientAddr(client): ClientAddr,
) -> ApiResult<Response> {
    let node: NodeIndex = params.get("node_index")?.parse()?;
    let folder: FolderPath = q.folder.parse()?;
    let zip = state.vitrine.artifacts().zip_folder(&who, &slug, &build, node, &folder, client).await?;
    let encoded = percent_encoding::utf8_percent_encode(&zip.file_name, percent_encoding::NON_ALPHANUMERIC);
    let disposition =
        format!("attachment; filename=\"{}\"; filename*=UTF-8''{encoded}", zip.file_name.replace('"', "_"));
    let mut response = axum::body::Body::from_stream(zip.body).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/zip"));
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, value);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    Ok(response)
}

/// A PNG of where an image changed since the last green build (changed pixels in red); the
/// count is in `X-Changed-Pixels`.
pub async fn image_diff(
    State(state): State<AppState>,
    who: Principal,
    ArtifactAt(at): ArtifactAt,
    ClientAddr(client): ClientAddr,
) -> ApiResult<Response> {
    let diff = Box::pin(state.vitrine.gallery().image_diff(&who, &at, client)).await?;
    let mut response = axum::body::Body::from(diff.png.clone()).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/png"));
    h.insert("x-changed-pixels", HeaderValue::from(diff.changed_pixels));
    // The same two images always give the same picture; who may see it can change.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=300"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    Ok(response)
}

/// Redirects to Playwright's trace viewer on the artifacts origin, with the trace.
pub async fn open_trace(
    State(state): State<AppState>,
    who: Principal,
    ArtifactAt(at): ArtifactAt,
    ClientAddr(client): ClientAddr,
) -> ApiResult<Response> {
    let url = state.vitrine.artifacts().trace_viewer_url(&who, &at, client).await?;
    Ok((
        axum::http::StatusCode::FOUND,
        [(header::LOCATION, url), (header::CACHE_CONTROL, "private, no-store".to_owned())],
    )
        .into_response())
}
