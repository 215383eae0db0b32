use axum::Json;
use axum::extract::{Query, State};
use serde::Deserialize;

use super::views::BuildSummary;
use crate::core::Principal;
use crate::domain::{ProjectSlug, StatusFilter};
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{BuildAt, ProjectAt, RouteParams};
use crate::http::state::AppState;
use vitrine_wire::agent::ErrorBody;

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    limit: Option<String>,
    offset: Option<String>,
    filter: Option<String>,
}

fn parse_num(name: &str, value: Option<&str>, default: i64) -> ApiResult<i64> {
    match value {
        None | Some("") => Ok(default),
        Some(v) => v.parse().map_err(|_| ApiError::bad_request(format!("{name} must be a number"))),
    }
}

async fn list(
    state: AppState,
    who: Principal,
    slug: ProjectSlug,
    branch: Option<String>,
    q: ListQuery,
) -> ApiResult<Json<Vec<BuildSummary>>> {
    let filter = match q.filter.as_deref() {
        None | Some("") => None,
        Some(f) => Some(f.parse::<StatusFilter>()?),
    };
    let limit = parse_num("limit", q.limit.as_deref(), 30)?;
    let offset = parse_num("offset", q.offset.as_deref(), 0)?;
    let (project, builds) =
        state.vitrine.builds().recent_builds(&who, &slug, branch.as_deref(), filter, limit, offset).await?;
    let url = &state.vitrine.settings().public_url;
    Ok(Json(builds.iter().map(|b| BuildSummary::new(url, &project, b)).collect()))
}

/// `GET /api/v1.1/project/:vcs/:org/:repo`
#[utoipa::path(get, path = "/api/v1.1/project/{vcs}/{org}/{repo}", tag = "v1.1",
    params(crate::http::extract::ProjectAt, ("limit" = Option<i64>, Query, description = "At most this many (default 30)"), ("offset" = Option<i64>, Query), ("filter" = Option<String>, Query, description = "`completed`, `successful`, `failed` or `running`")),
    responses((status = 200, description = "The project's recent builds, newest first", body = Vec<BuildSummary>), (status = 401, description = "The token is not valid", body = ErrorBody), (status = 404, description = "No such project or build, or not visible to the caller", body = ErrorBody)))]
pub async fn list_builds(
    State(state): State<AppState>,
    who: Principal,
    ProjectAt(slug): ProjectAt,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Vec<BuildSummary>>> {
    list(state, who, slug, None, q).await
}

/// `GET /api/v1.1/project/:vcs/:org/:repo/tree/:branch` (the branch may contain `/`)
#[utoipa::path(get, path = "/api/v1.1/project/{vcs}/{org}/{repo}/tree/{*branch}", tag = "v1.1",
    params(crate::http::extract::ProjectAt, ("branch" = String, Path, description = "May contain `/`"), ("limit" = Option<i64>, Query, description = "At most this many (default 30)"), ("offset" = Option<i64>, Query), ("filter" = Option<String>, Query, description = "`completed`, `successful`, `failed` or `running`")),
    responses((status = 200, description = "The branch's recent builds, newest first", body = Vec<BuildSummary>), (status = 401, description = "The token is not valid", body = ErrorBody), (status = 404, description = "No such project or build, or not visible to the caller", body = ErrorBody)))]
pub async fn list_branch_builds(
    State(state): State<AppState>,
    who: Principal,
    params: RouteParams,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Vec<BuildSummary>>> {
    let branch = params.get("branch")?.to_owned();
    list(state, who, params.project()?, Some(branch), q).await
}

/// `GET /api/v1.1/project/:vcs/:org/:repo/:build_num`
#[utoipa::path(get, path = "/api/v1.1/project/{vcs}/{org}/{repo}/{build_num}", tag = "v1.1",
    params(crate::http::extract::BuildAt),
    responses((status = 200, body = BuildSummary), (status = 401, description = "The token is not valid", body = ErrorBody), (status = 404, description = "No such project or build, or not visible to the caller", body = ErrorBody)))]
pub async fn get_build(
    State(state): State<AppState>,
    who: Principal,
    BuildAt { slug, build }: BuildAt,
) -> ApiResult<Json<BuildSummary>> {
    let (project, build) = state.vitrine.builds().find_build(&who, &slug, &build).await?;
    Ok(Json(BuildSummary::new(&state.vitrine.settings().public_url, &project, &build)))
}
