//! HTTP handlers: parse, authorize (through the services), call, shape the JSON.

pub mod agent;
pub mod artifacts_origin;
pub mod kept;
pub mod openapi;
pub mod site;
pub mod v1_1;
pub mod v2;

use crate::app::AppState;
use crate::domain::{BuildNum, BuildRef, NodeIndex, PrettyPath, ProjectSlug, StatusFilter};
use crate::error::ApiResult;

/// The client's address, for the audit log: the peer's, or read through trusted proxies only.
pub struct ClientAddr(pub Option<std::net::IpAddr>);

impl axum::extract::FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut http::request::Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
        Ok(ClientAddr(state.vitrine.settings.client_addr(&parts.headers, peer)))
    }
}

/// `?branch=&filter=`: which build `latest` means.
#[derive(Debug, Default, serde::Deserialize)]
pub struct LatestQuery {
    pub branch: Option<String>,
    pub filter: Option<String>,
}

/// One artifact of a build, as the routes ending `{vcs}/{org}/{repo}/{build_num}/.../
/// {node_index}/{*path}` name it (with `?branch=&filter=` for `latest`): parsed and
/// validated once, here, from the parameters as the router matched them. They are read in
/// place (no string copied per parameter): the artifact route is the API's hottest.
#[derive(Debug)]
pub struct ArtifactAt {
    pub slug: ProjectSlug,
    pub build: BuildRef,
    pub node: NodeIndex,
    pub path: PrettyPath,
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ArtifactAt {
    type Rejection = crate::error::ApiError;

    async fn from_request_parts(parts: &mut http::request::Parts, state: &S) -> Result<Self, Self::Rejection> {
        use crate::error::ApiError;
        use axum::extract::RawPathParams;
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad_request(format!("This address cannot be read: {}", e.body_text())))?;
        let [mut vcs, mut org, mut repo, mut build_num, mut node, mut path] = [None; 6];
        for (name, value) in &params {
            let slot = match name {
                "vcs" => &mut vcs,
                "org" => &mut org,
                "repo" => &mut repo,
                "build_num" => &mut build_num,
                "node_index" => &mut node,
                "path" => &mut path,
                _ => continue,
            };
            *slot = Some(value);
        }
        let (Some(vcs), Some(org), Some(repo), Some(build_num), Some(node), Some(path)) =
            (vcs, org, repo, build_num, node, path)
        else {
            return Err(ApiError::not_found(
                "Not found: an artifact's address names its project, build, container and path",
            ));
        };
        let query = match parts.uri.query() {
            None => LatestQuery::default(),
            Some(_) => {
                axum::extract::Query::<LatestQuery>::try_from_uri(&parts.uri)
                    .map_err(|e| ApiError::bad_request(e.body_text()))?
                    .0
            }
        };
        Ok(ArtifactAt {
            slug: ProjectSlug::new(vcs, org, repo)?,
            build: build_ref(build_num, query.branch, query.filter.as_deref())?,
            node: node.parse()?,
            path: path.parse()?,
        })
    }
}

/// `{vcs}/{org}/{repo}` path parameters.
#[derive(Debug, serde::Deserialize)]
pub struct ProjectPath {
    pub vcs: String,
    pub org: String,
    pub repo: String,
}

impl ProjectPath {
    pub fn slug(&self) -> ApiResult<ProjectSlug> {
        Ok(ProjectSlug::new(&self.vcs, &self.org, &self.repo)?)
    }
}

/// A `:build_num` segment: a number, or `latest` with the `branch` and `filter` query.
pub fn build_ref(segment: &str, branch: Option<String>, filter: Option<&str>) -> ApiResult<BuildRef> {
    if segment == "latest" {
        let filter = match filter {
            None | Some("") => StatusFilter::default(),
            Some(f) => f.parse()?,
        };
        let branch = branch.filter(|b| !b.is_empty());
        Ok(BuildRef::Latest { branch, filter })
    } else {
        Ok(BuildRef::Num(segment.parse::<BuildNum>()?))
    }
}
