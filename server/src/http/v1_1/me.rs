use axum::Json;
use axum::extract::State;
use serde::Serialize;

use super::views::ProjectEntry;
use crate::core::Principal;
use crate::http::error::{ApiError, ApiResult};
use crate::http::state::AppState;
use vitrine_wire::agent::ErrorBody;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Me {
    login: String,
    name: String,
}

/// `GET /api/v1.1/me`: who the token belongs to (clients call it to check a token).
#[utoipa::path(get, path = "/api/v1.1/me", tag = "v1.1",
    responses((status = 200, body = Me), (status = 401, description = "No user's token", body = ErrorBody)))]
pub async fn get_me(who: Principal) -> ApiResult<Json<Me>> {
    match who {
        Principal::User { username, .. } => Ok(Json(Me { login: username.clone(), name: username })),
        Principal::BuildAgent { .. } | Principal::BuildNode { .. } => {
            Err(ApiError::unauthorized("A build token belongs to a project, not a user"))
        }
        Principal::Anonymous => Err(ApiError::unauthorized("You must log in first.")),
    }
}

/// `GET /api/v1.1/projects`: the projects the caller can see.
#[utoipa::path(get, path = "/api/v1.1/projects", tag = "v1.1",
    responses((status = 200, body = Vec<ProjectEntry>), (status = 401, body = ErrorBody)))]
pub async fn list_projects(State(state): State<AppState>, who: Principal) -> ApiResult<Json<Vec<ProjectEntry>>> {
    let projects = state.vitrine.projects().visible_projects(&who).await?;
    Ok(Json(projects.iter().map(ProjectEntry::new).collect()))
}
