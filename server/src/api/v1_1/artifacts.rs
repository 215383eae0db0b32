use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::views::ArtifactEntry;
use crate::api::{ArtifactPath, ClientAddr, ProjectPath, build_ref};
use crate::app::AppState;
use crate::error::ApiResult;
use crate::services::Principal;
use crate::services::artifacts::{Follower, Reader};

#[derive(Debug, Deserialize)]
pub struct LatestQuery {
    branch: Option<String>,
    filter: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct ArtifactsPath {
    vcs: String,
    org: String,
    repo: String,
    build_num: String,
}

/// `GET /api/v1.1/project/:vcs/:org/:repo/:build_num/artifacts` (also `latest`): one JSON
/// array of every artifact, as CircleCI answers, streamed a page of rows at a time.
pub async fn list_artifacts(
    State(state): State<AppState>,
    who: Principal,
    Path(p): Path<ArtifactsPath>,
    Query(q): Query<LatestQuery>,
) -> ApiResult<Response> {
    use futures::{StreamExt, TryStreamExt};
    let slug = ProjectPath { vcs: p.vcs, org: p.org, repo: p.repo }.slug()?;
    let build = build_ref(&p.build_num, q.branch, q.filter.as_deref())?;
    let (project, build) = state.vitrine.find_build(&who, &slug, &build).await?;
    let url = state.vitrine.settings.public_url.clone();
    let mut first = true;
    let entries = state.vitrine.artifact_pages(build.id).map_ok(move |page| {
        let mut chunk = Vec::with_capacity(page.len() * 256);
        for a in &page {
            if !std::mem::take(&mut first) {
                chunk.push(b',');
            }
            serde_json::to_writer(&mut chunk, &ArtifactEntry::new(&url, &project, build.build_num, a))
                .expect("an entry serializes");
        }
        axum::body::Bytes::from(chunk)
    });
    let bracket = |b: &'static [u8]| futures::stream::once(async move { Ok(axum::body::Bytes::from_static(b)) });
    let body = bracket(b"[").chain(entries).chain(bracket(b"]")).map(|chunk| {
        // Past the status line, a failure can only cut the answer short, which a client sees.
        chunk.map_err(|e| {
            tracing::error!(error = %e, "a listing failed midway");
            std::io::Error::other("the listing could not be read to its end")
        })
    });
    Ok(([(header::CONTENT_TYPE, "application/json")], axum::body::Body::from_stream(body)).into_response())
}

/// `GET /api/v1.1/project/:vcs/:org/:repo/:build_num/artifacts/:node_index/*path`:
/// checks access, then redirects to a short-lived signed S3 URL.
pub async fn get_artifact(
    State(state): State<AppState>,
    who: Principal,
    Path(p): Path<ArtifactPath>,
    Query(q): Query<LatestQuery>,
    ClientAddr(client): ClientAddr,
    headers: axum::http::HeaderMap,
) -> ApiResult<Response> {
    let (slug, build, node, path) = p.parse(q.branch, q.filter.as_deref())?;
    let reader = if opened_as_a_page(&headers) { Reader::Browser } else { Reader::Download };
    let follower = Follower { reader, client };
    let url = state.vitrine.artifact_download_url(&who, &slug, &build, node, &path, follower).await?;
    Ok((
        axum::http::StatusCode::FOUND,
        [(header::LOCATION, url), (header::CACHE_CONTROL, "private, no-store".to_owned())],
    )
        .into_response())
}

/// A browser opening the link as a page (not an `<img>`, not a script): browsers say so in
/// `Sec-Fetch-Mode`; older ones only by asking for HTML first.
fn opened_as_a_page(headers: &axum::http::HeaderMap) -> bool {
    let value = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    match value("sec-fetch-mode") {
        Some(mode) => mode == "navigate",
        None => value("accept").is_some_and(|accept| accept.starts_with("text/html")),
    }
}
