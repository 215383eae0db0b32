use axum::Json;
use axum::extract::State;
use serde::Serialize;

use super::views::ProjectEntry;
use crate::app::AppState;
use crate::error::{ApiError, ApiResult};
use crate::services::Principal;

#[derive(Debug, Serialize)]
pub struct Me {
    login: String,
    name: String,
}

/// `GET /api/v1.1/me`: who the token belongs to (clients call it to check a token).
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
pub async fn list_projects(State(state): State<AppState>, who: Principal) -> ApiResult<Json<Vec<ProjectEntry>>> {
    let projects = state.vitrine.visible_projects(&who).await?;
    Ok(Json(projects.iter().map(ProjectEntry::new).collect()))
}
