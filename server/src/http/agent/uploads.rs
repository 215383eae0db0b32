use axum::Json;
use axum::extract::State;
use vitrine_wire::agent::{CompleteRequest, CompleteResponse, ErrorBody, PlanRequest, PlanResponse};

use super::builds::agent_build;
use crate::core::Principal;
use crate::domain::NodeIndex;
use crate::http::error::ApiResult;
use crate::http::extract::RouteParams;
use crate::http::state::AppState;

#[utoipa::path(post, path = "/api/agent/projects/{vcs}/{org}/{repo}/builds/{build_num}/uploads", tag = "agent",
    params(crate::http::extract::ProjectAt, ("build_num" = i64, Path), ("vitrine-agent-protocol" = u32, Header, description = "The agent protocol spoken (3)")), request_body = PlanRequest,
    responses((status = 200, description = "What to send for each file", body = PlanResponse), (status = 401, body = ErrorBody), (status = 403, description = "Not this token's project or build, or the build is closed", body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn plan_uploads(
    State(state): State<AppState>,
    who: Principal,
    params: RouteParams,
    Json(req): Json<PlanRequest>,
) -> ApiResult<Json<PlanResponse>> {
    let (slug, num) = agent_build(&params)?;
    let node = NodeIndex::try_from(req.node_index)?;
    let uploads = state.vitrine.uploads().plan_uploads(&who, &slug, num, node, req.files).await?;
    Ok(Json(PlanResponse {
        part_size: state.vitrine.uploads().part_size(),
        hash_while_sending_from: state.vitrine.uploads().hash_while_sending_from(),
        uploads,
    }))
}

#[utoipa::path(post, path = "/api/agent/projects/{vcs}/{org}/{repo}/builds/{build_num}/uploads/complete", tag = "agent",
    params(crate::http::extract::ProjectAt, ("build_num" = i64, Path), ("vitrine-agent-protocol" = u32, Header, description = "The agent protocol spoken (3)")), request_body = CompleteRequest,
    responses((status = 200, description = "Each upload listed, or why not", body = CompleteResponse), (status = 401, body = ErrorBody), (status = 403, description = "Not this token's project or build, or the build is closed", body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn complete_uploads(
    State(state): State<AppState>,
    who: Principal,
    params: RouteParams,
    Json(req): Json<CompleteRequest>,
) -> ApiResult<Json<CompleteResponse>> {
    let (slug, num) = agent_build(&params)?;
    let results = state.vitrine.uploads().complete_uploads(&who, &slug, num, req.uploads).await?;
    Ok(Json(CompleteResponse { results }))
}
