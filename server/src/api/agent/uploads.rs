use axum::Json;
use axum::extract::{Path, State};
use vitrine_wire::agent::{CompleteRequest, CompleteResponse, PlanRequest, PlanResponse};

use super::builds::AgentBuildPath;
use crate::app::AppState;
use crate::domain::NodeIndex;
use crate::error::ApiResult;
use crate::services::Principal;

pub async fn plan_uploads(
    State(state): State<AppState>,
    who: Principal,
    Path(path): Path<AgentBuildPath>,
    Json(req): Json<PlanRequest>,
) -> ApiResult<Json<PlanResponse>> {
    let (slug, num) = path.parse()?;
    let node = NodeIndex::try_from(req.node_index)?;
    let uploads = state.vitrine.plan_uploads(&who, &slug, num, node, req.files).await?;
    Ok(Json(PlanResponse {
        part_size: state.vitrine.part_size(),
        hash_while_sending_from: state.vitrine.hash_while_sending_from(),
        uploads,
    }))
}

pub async fn complete_uploads(
    State(state): State<AppState>,
    who: Principal,
    Path(path): Path<AgentBuildPath>,
    Json(req): Json<CompleteRequest>,
) -> ApiResult<Json<CompleteResponse>> {
    let (slug, num) = path.parse()?;
    let results = state.vitrine.complete_uploads(&who, &slug, num, req.uploads).await?;
    Ok(Json(CompleteResponse { results }))
}
