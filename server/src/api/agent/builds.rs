use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};

use crate::api::ProjectPath;
use crate::api::v1_1::views::BuildSummary;
use crate::domain::{BuildNum, BuildStatus, NodeIndex};
use crate::error::ApiResult;
use crate::router::AppState;
use crate::services::Principal;
use crate::services::builds::StartBuild;

#[derive(Debug, Deserialize)]
pub struct StartRequest {
    pub branch: Option<String>,
    pub revision: Option<String>,
    pub build_num: Option<BuildNum>,
    pub node_index: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct Started {
    pub build_num: i64,
    pub build_url: String,
    pub node_index: i64,
}

pub async fn start_build(
    State(state): State<AppState>,
    who: Principal,
    Path(project): Path<ProjectPath>,
    Json(req): Json<StartRequest>,
) -> ApiResult<Json<Started>> {
    let slug = project.slug()?;
    let node_index = NodeIndex::try_from(req.node_index.unwrap_or(0))?;
    let start = StartBuild {
        branch: req.branch.filter(|b| !b.is_empty()).unwrap_or_else(|| "main".to_owned()),
        revision: req.revision.unwrap_or_default(),
        join: req.build_num,
        node_index,
    };
    let (project, build) = state.vitrine.start_build(&who, &slug, start).await?;
    Ok(Json(Started {
        build_num: build.build_num,
        build_url: state.vitrine.build_page_url(&project, build.build_num),
        node_index: node_index.0,
    }))
}

#[derive(Debug, Deserialize)]
pub struct AgentBuildPath {
    pub vcs: String,
    pub org: String,
    pub repo: String,
    pub build_num: String,
}

impl AgentBuildPath {
    pub fn parse(&self) -> ApiResult<(crate::domain::ProjectSlug, BuildNum)> {
        let slug = ProjectPath { vcs: self.vcs.clone(), org: self.org.clone(), repo: self.repo.clone() }.slug()?;
        Ok((slug, self.build_num.parse()?))
    }
}

#[derive(Debug, Deserialize)]
pub struct FinishRequest {
    pub status: String,
}

pub async fn finish_build(
    State(state): State<AppState>,
    who: Principal,
    Path(path): Path<AgentBuildPath>,
    Json(req): Json<FinishRequest>,
) -> ApiResult<Json<BuildSummary>> {
    let (slug, num) = path.parse()?;
    let status: BuildStatus = req.status.parse()?;
    let (project, build) = state.vitrine.finish_build(&who, &slug, num, status).await?;
    Ok(Json(BuildSummary::new(&state.vitrine.settings.public_url, &project, &build)))
}
