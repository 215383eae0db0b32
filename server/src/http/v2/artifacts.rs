use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::core::artifacts::PageToken;
use crate::core::listings::{self, ListingKey, Part};
use crate::core::{Principal, ServiceResult, Vitrine};
use crate::domain::{BuildNum, BuildRef};
use crate::http::error::ApiResult;
use crate::http::extract::RouteParams;
use crate::http::kept::kept_listing;
use crate::http::state::AppState;
use crate::urls::artifact_route;
use vitrine_store::{Build, Project};
use vitrine_wire::agent::ErrorBody;

const PAGE_SIZE: i64 = 1000;

#[derive(Debug, Deserialize)]
pub struct PageQuery {
    #[serde(rename = "page-token")]
    page_token: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ArtifactItem {
    path: String,
    node_index: i64,
    url: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ArtifactPage {
    items: Vec<ArtifactItem>,
    next_page_token: Option<String>,
}

/// `GET /api/v2/project/:slug/:job_number/artifacts`, paged by `page-token`. A finished
/// build's pages come from the cache of compressed listings, with an ETag (`304` to a client
/// that has the page); a running build's are read each time.
#[utoipa::path(get, path = "/api/v2/project/{vcs}/{org}/{repo}/{job_number}/artifacts", tag = "v2",
    params(crate::http::extract::ProjectAt, ("job_number" = i64, Path), ("page-token" = Option<String>, Query, description = "`next_page_token` of the page before")),
    responses(
        (status = 200, description = "A page of the build's artifacts", body = ArtifactPage),
        (status = 304, description = "Unchanged since the `If-None-Match` given"),
        (status = 401, description = "The token is not valid", body = ErrorBody), (status = 404, description = "No such project or build, or not visible to the caller", body = ErrorBody)))]
pub async fn list_job_artifacts(
    State(state): State<AppState>,
    who: Principal,
    params: RouteParams,
    Query(q): Query<PageQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let slug = params.project()?;
    let build = BuildRef::Num(params.get("job_number")?.parse::<BuildNum>()?);
    let token = q.page_token.filter(|t| !t.is_empty());
    let after = token.as_deref().map(str::parse::<PageToken>).transpose()?;
    let vitrine = &state.vitrine;
    let (project, build) = vitrine.builds().find_build(&who, &slug, &build).await?;
    let cache_control = if project.public { "public, no-cache" } else { "private, no-cache" };
    if build.status.is_finished() {
        let part = Part::Page(token.unwrap_or_default());
        let key = ListingKey { build_id: build.id, listing_version: build.listing_version, part };
        let page = page_json(vitrine, &project, &build, after.as_ref());
        if let Some(listing) =
            vitrine.artifacts().listings().get_or_make(key, listings::compress(futures::stream::once(page))).await?
        {
            return Ok(kept_listing(&listing, &headers, cache_control));
        }
    }
    // A running build's page, or one too large to keep (very long paths).
    let cache_control = if build.status.is_finished() { cache_control } else { "no-store" };
    let json = page_json(vitrine, &project, &build, after.as_ref()).await?;
    Ok(([(header::CONTENT_TYPE, "application/json"), (header::CACHE_CONTROL, cache_control)], json).into_response())
}

/// One page of a build's artifacts as v2's JSON.
async fn page_json(
    vitrine: &Vitrine,
    project: &Project,
    build: &Build,
    after: Option<&PageToken>,
) -> ServiceResult<Bytes> {
    let (artifacts, next_page_token) = vitrine.artifacts().artifacts_page(build, after, PAGE_SIZE).await?;
    let base = &vitrine.settings().public_url;
    let items = artifacts
        .iter()
        .map(|a| ArtifactItem {
            path: a.pretty_path.clone(),
            node_index: a.node_index,
            url: format!("{base}{}", artifact_route(project, build.build_num, a.node_index, &a.pretty_path)),
        })
        .collect();
    Ok(serde_json::to_vec(&ArtifactPage { items, next_page_token }).expect("a page serializes").into())
}
