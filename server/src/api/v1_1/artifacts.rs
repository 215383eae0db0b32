use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::views::ArtifactEntry;
use crate::api::{ProjectPath, build_ref};
use crate::app::AppState;
use crate::domain::{NodeIndex, PrettyPath};
use crate::error::ApiResult;
use crate::services::Principal;

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

/// `GET /api/v1.1/project/:vcs/:org/:repo/:build_num/artifacts` (also `latest`)
pub async fn list_artifacts(
    State(state): State<AppState>,
    who: Principal,
    Path(p): Path<ArtifactsPath>,
    Query(q): Query<LatestQuery>,
) -> ApiResult<Json<Vec<ArtifactEntry>>> {
    let slug = ProjectPath { vcs: p.vcs, org: p.org, repo: p.repo }.slug()?;
    let build = build_ref(&p.build_num, q.branch, q.filter.as_deref())?;
    let (project, build, artifacts) = state.vitrine.list_artifacts(&who, &slug, &build).await?;
    let url = &state.vitrine.settings.public_url;
    Ok(Json(artifacts.iter().map(|a| ArtifactEntry::new(url, &project, build.build_num, a)).collect()))
}

#[derive(Debug, Deserialize)]
pub struct ArtifactPath {
    vcs: String,
    org: String,
    repo: String,
    build_num: String,
    node_index: String,
    path: String,
}

/// `GET /api/v1.1/project/:vcs/:org/:repo/:build_num/artifacts/:node_index/*path`:
/// checks access, then redirects to a short-lived signed S3 URL.
pub async fn get_artifact(
    State(state): State<AppState>,
    who: Principal,
    Path(p): Path<ArtifactPath>,
    Query(q): Query<LatestQuery>,
) -> ApiResult<Response> {
    let slug = ProjectPath { vcs: p.vcs, org: p.org, repo: p.repo }.slug()?;
    let build = build_ref(&p.build_num, q.branch, q.filter.as_deref())?;
    let node: NodeIndex = p.node_index.parse()?;
    let path: PrettyPath = p.path.parse()?;
    let url = state.vitrine.artifact_download_url(&who, &slug, &build, node, &path).await?;
    Ok((
        axum::http::StatusCode::FOUND,
        [(header::LOCATION, url), (header::CACHE_CONTROL, "private, no-store".to_owned())],
    )
        .into_response())
}
