//! Extractors: what a request's path, query and connection name, parsed once (project,
//! build, artifact, the client's address), for every handler.

use crate::core::artifacts::ArtifactRef;
use crate::domain::{BuildNum, BuildRef, ProjectSlug, StatusFilter};
use crate::http::error::{ApiError, ApiResult};
use crate::http::state::AppState;

/// The client's address, for the audit log: the peer's, or read through trusted proxies only.
pub struct ClientAddr(pub Option<std::net::IpAddr>);

impl axum::extract::FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut http::request::Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
        Ok(ClientAddr(state.policy.client_addr(&parts.headers, peer)))
    }
}

/// `?branch=&filter=`: which build `latest` means.
#[derive(Debug, Default, serde::Deserialize)]
struct LatestQuery {
    branch: Option<String>,
    filter: Option<String>,
}

impl LatestQuery {
    fn of(uri: &http::Uri) -> ApiResult<LatestQuery> {
        match uri.query() {
            None => Ok(LatestQuery::default()),
            Some(_) => Ok(axum::extract::Query::<LatestQuery>::try_from_uri(uri)
                .map_err(|e| ApiError::bad_request(e.body_text()))?
                .0),
        }
    }
}

/// A route's path parameters as the router matched them (percent-decoded), read in place:
/// the extractors below parse what they name once, here, and no handler rebuilds
/// `{vcs, org, repo}` by hand.
pub struct RouteParams(axum::extract::RawPathParams);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for RouteParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut http::request::Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::RawPathParams::from_request_parts(parts, state)
            .await
            .map(RouteParams)
            .map_err(|e| ApiError::bad_request(format!("This address cannot be read: {}", e.body_text())))
    }
}

impl RouteParams {
    /// The parameter `name` (a route without it is a mistake in the router).
    pub fn get(&self, name: &str) -> ApiResult<&str> {
        self.0
            .iter()
            .find_map(|(key, value)| (key == name).then_some(value))
            .ok_or_else(|| ApiError::not_found(format!("Not found: this address has no `{name}`")))
    }

    /// `{vcs}/{org}/{repo}`.
    pub fn project(&self) -> ApiResult<ProjectSlug> {
        Ok(ProjectSlug::new(self.get("vcs")?, self.get("org")?, self.get("repo")?)?)
    }

    /// `{build_num}`: a number, or `latest` with the query's `branch` and `filter` (the query
    /// is read for `latest` only).
    fn build(&self, uri: &http::Uri) -> ApiResult<BuildRef> {
        let segment = self.get("build_num")?;
        if segment != "latest" {
            return Ok(BuildRef::Num(segment.parse::<BuildNum>()?));
        }
        let LatestQuery { branch, filter } = LatestQuery::of(uri)?;
        let filter = match filter.as_deref() {
            None | Some("") => StatusFilter::default(),
            Some(f) => f.parse()?,
        };
        Ok(BuildRef::Latest { branch: branch.filter(|b| !b.is_empty()), filter })
    }

    /// `{vcs}/{org}/{repo}/{build_num}`.
    fn build_at(&self, uri: &http::Uri) -> ApiResult<BuildAt> {
        Ok(BuildAt { slug: self.project()?, build: self.build(uri)? })
    }
}

/// `{vcs}/{org}/{repo}`: the project a route names.
pub struct ProjectAt(pub ProjectSlug);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ProjectAt {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut http::request::Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(ProjectAt(RouteParams::from_request_parts(parts, state).await?.project()?))
    }
}

/// `{vcs}/{org}/{repo}/{build_num}` (and `?branch=&filter=` for `latest`): a build.
pub struct BuildAt {
    pub slug: ProjectSlug,
    pub build: BuildRef,
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for BuildAt {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut http::request::Parts, state: &S) -> Result<Self, Self::Rejection> {
        RouteParams::from_request_parts(parts, state).await?.build_at(&parts.uri)
    }
}

/// One artifact of a build, as the routes ending `{vcs}/{org}/{repo}/{build_num}/.../
/// {node_index}/{*path}` name it: the artifact route (the API's hottest), the image diff and
/// the trace viewer.
#[derive(Debug)]
pub struct ArtifactAt(pub ArtifactRef);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ArtifactAt {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut http::request::Parts, state: &S) -> Result<Self, Self::Rejection> {
        let params = RouteParams::from_request_parts(parts, state).await?;
        let BuildAt { slug, build } = params.build_at(&parts.uri)?;
        Ok(ArtifactAt(ArtifactRef {
            slug,
            build,
            node: params.get("node_index")?.parse()?,
            path: params.get("path")?.parse()?,
        }))
    }
}

/// The OpenAPI document's parameters, from the extractors that read them: each says once
/// what it parses (the handlers' annotations name the extractor, not its parameters).
mod documented {
    use utoipa::openapi::Required;
    use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
    use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};

    fn parameter(name: &str, at: ParameterIn, description: Option<&str>, integer: bool) -> Parameter {
        let schema = if integer {
            ObjectBuilder::new().schema_type(Type::Integer).format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        } else {
            ObjectBuilder::new().schema_type(Type::String)
        };
        let required = if at == ParameterIn::Path { Required::True } else { Required::False };
        ParameterBuilder::new()
            .name(name)
            .parameter_in(at)
            .description(description)
            .required(required)
            .schema(Some(schema))
            .build()
    }

    pub fn project() -> Vec<Parameter> {
        vec![
            parameter("vcs", ParameterIn::Path, Some("`gh`, `github`, `bb` or `bitbucket`"), false),
            parameter("org", ParameterIn::Path, None, false),
            parameter("repo", ParameterIn::Path, None, false),
        ]
    }

    pub fn build_num() -> Parameter {
        parameter(
            "build_num",
            ParameterIn::Path,
            Some("A build number, or `latest` (with `branch` and `filter`)"),
            false,
        )
    }

    pub fn latest() -> [Parameter; 2] {
        [parameter("branch", ParameterIn::Query, None, false), parameter("filter", ParameterIn::Query, None, false)]
    }

    pub fn artifact() -> [Parameter; 2] {
        [
            parameter("node_index", ParameterIn::Path, Some("The container"), true),
            parameter("path", ParameterIn::Path, Some("The artifact's `pretty_path`, `/` kept"), false),
        ]
    }
}

impl utoipa::IntoParams for ProjectAt {
    fn into_params(
        _: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        documented::project()
    }
}

impl utoipa::IntoParams for BuildAt {
    fn into_params(
        _: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        let mut params = documented::project();
        params.push(documented::build_num());
        params.extend(documented::latest());
        params
    }
}

impl utoipa::IntoParams for ArtifactAt {
    fn into_params(
        _: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        let mut params = documented::project();
        params.push(documented::build_num());
        params.extend(documented::artifact());
        params.extend(documented::latest());
        params
    }
}
