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

/// `{vcs}/{org}/{repo}/{build_num}/.../{node_index}/{*path}`: one artifact of a build.
#[derive(Debug, serde::Deserialize)]
pub struct ArtifactPath {
    vcs: String,
    org: String,
    repo: String,
    build_num: String,
    node_index: String,
    path: String,
}

impl ArtifactPath {
    /// The project, build (`latest` with `branch` and `filter`), container and path named.
    pub fn parse(
        self,
        branch: Option<String>,
        filter: Option<&str>,
    ) -> ApiResult<(ProjectSlug, BuildRef, NodeIndex, PrettyPath)> {
        let slug = ProjectPath { vcs: self.vcs, org: self.org, repo: self.repo }.slug()?;
        let build = build_ref(&self.build_num, branch, filter)?;
        Ok((slug, build, self.node_index.parse()?, self.path.parse()?))
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
