use axum::Json;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};

use crate::api::ProjectPath;
use crate::app::AppState;
use crate::domain::{BuildNum, BuildRef};
use crate::error::ApiResult;
use crate::services::Principal;
use crate::urls::artifact_route;

const PAGE_SIZE: i64 = 1000;

#[derive(Debug, Deserialize)]
pub struct JobPath {
    vcs: String,
    org: String,
    repo: String,
    job_number: String,
}

#[derive(Debug, Deserialize)]
pub struct PageQuery {
    #[serde(rename = "page-token")]
    page_token: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ArtifactItem {
    path: String,
    node_index: i64,
    url: String,
}

#[derive(Debug, Serialize)]
pub struct ArtifactPage {
    items: Vec<ArtifactItem>,
    next_page_token: Option<String>,
}

/// `GET /api/v2/project/:slug/:job_number/artifacts`, paged by `page-token`.
pub async fn list_job_artifacts(
    State(state): State<AppState>,
    who: Principal,
    Path(p): Path<JobPath>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<ArtifactPage>> {
    let slug = ProjectPath { vcs: p.vcs, org: p.org, repo: p.repo }.slug()?;
    let build = BuildRef::Num(p.job_number.parse::<BuildNum>()?);
    let (project, build, artifacts, next) =
        state.vitrine.artifacts_page(&who, &slug, &build, q.page_token.as_deref(), PAGE_SIZE).await?;
    let base = &state.vitrine.settings.public_url;
    let items = artifacts
        .iter()
        .map(|a| ArtifactItem {
            path: a.pretty_path.clone(),
            node_index: a.node_index,
            url: format!("{base}{}", artifact_route(&project, build.build_num, a.node_index, &a.pretty_path)),
        })
        .collect();
    Ok(Json(ArtifactPage { items, next_page_token: next }))
}
