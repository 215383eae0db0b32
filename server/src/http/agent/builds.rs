use axum::Json;
use axum::extract::State;
use vitrine_wire::agent::{ErrorBody, FinishRequest, Finished, StartRequest, Started};

use crate::core::Principal;
use crate::core::builds::StartBuild;
use crate::domain::{BuildNum, NodeIndex, ProjectSlug};
use crate::http::error::ApiResult;
use crate::http::extract::{ProjectAt, RouteParams};
use crate::http::state::AppState;

#[utoipa::path(post, path = "/api/agent/projects/{vcs}/{org}/{repo}/builds", tag = "agent",
    params(crate::http::extract::ProjectAt, ("vitrine-agent-protocol" = u32, Header, description = "The agent protocol spoken (3)")), request_body = StartRequest,
    responses((status = 200, description = "The build created or joined", body = Started), (status = 401, body = ErrorBody), (status = 403, description = "Not this token's project or build, or the build is closed", body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn start_build(
    State(state): State<AppState>,
    who: Principal,
    ProjectAt(slug): ProjectAt,
    headers: axum::http::HeaderMap,
    Json(req): Json<StartRequest>,
) -> ApiResult<Json<Started>> {
    let node_index = NodeIndex::try_from(req.node_index.unwrap_or(0))?;
    let start = StartBuild {
        branch: req.branch.filter(|b| !b.is_empty()).unwrap_or_else(|| "main".to_owned()),
        revision: req.revision.unwrap_or_default(),
        join: req.build_num,
        node_index,
        node_total: req.node_total,
        agent: headers.get(axum::http::header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_owned),
    };
    let (project, build) = state.vitrine.builds().start_build(&who, &slug, start).await?;
    let build_token = state.vitrine.accounts().create_build_node_token(project.id, build.id).await?;
    Ok(Json(Started {
        build_token,
        build_num: build.build_num,
        build_url: state.vitrine.builds().build_page_url(&project, build.build_num),
        node_index: node_index.0,
        node_total: build.parallelism,
    }))
}

/// `{vcs}/{org}/{repo}/builds/{build_num}`: an agent's build, by its number.
pub fn agent_build(params: &RouteParams) -> ApiResult<(ProjectSlug, BuildNum)> {
    Ok((params.project()?, params.get("build_num")?.parse()?))
}

#[utoipa::path(post, path = "/api/agent/projects/{vcs}/{org}/{repo}/builds/{build_num}/finish", tag = "agent",
    params(crate::http::extract::ProjectAt, ("build_num" = i64, Path), ("vitrine-agent-protocol" = u32, Header, description = "The agent protocol spoken (3)")), request_body = FinishRequest,
    responses((status = 200, body = Finished), (status = 401, body = ErrorBody), (status = 403, description = "Not this token's project or build, or the build is closed", body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn finish_build(
    State(state): State<AppState>,
    who: Principal,
    params: RouteParams,
    Json(req): Json<FinishRequest>,
) -> ApiResult<Json<Finished>> {
    let (slug, num) = agent_build(&params)?;
    let node = NodeIndex::try_from(req.node_index)?;
    let (project, build) = state.vitrine.builds().finish_node(&who, &slug, num, node, req.status).await?;
    Ok(Json(Finished {
        build_num: build.build_num,
        status: build.status,
        closed: build.status.is_finished(),
        build_url: state.vitrine.builds().build_page_url(&project, build.build_num),
    }))
}
