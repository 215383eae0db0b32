//! HTTP handlers: parse, authorize (through the services), call, shape the JSON.

pub mod agent;
pub mod artifacts_origin;
pub mod site;
pub mod v1_1;
pub mod v2;

use crate::domain::{BuildNum, BuildRef, ProjectSlug, StatusFilter};
use crate::error::ApiResult;

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
