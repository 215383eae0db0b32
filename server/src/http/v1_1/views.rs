//! JSON shapes of the v1.1 API, built from database rows.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::domain::{BuildStatus, VcsType};
use crate::urls::artifact_route;
use vitrine_store::{Artifact, Build, Project};

pub fn iso_time(unix: i64) -> String {
    DateTime::<Utc>::from_timestamp(unix, 0).unwrap_or_default().to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn vcs_url(project: &Project) -> String {
    let host = match project.vcs {
        VcsType::Github => "github.com",
        VcsType::Bitbucket => "bitbucket.org",
    };
    format!("https://{host}/{}/{}", project.org, project.repo)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProjectEntry {
    pub username: String,
    pub reponame: String,
    pub vcs_type: &'static str,
    pub vcs_url: String,
}

impl ProjectEntry {
    pub fn new(project: &Project) -> Self {
        ProjectEntry {
            username: project.org.clone(),
            reponame: project.repo.clone(),
            vcs_type: project.vcs.as_str(),
            vcs_url: vcs_url(project),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BuildSummary {
    pub build_num: i64,
    pub build_url: String,
    pub vcs_url: String,
    pub vcs_type: &'static str,
    pub username: String,
    pub reponame: String,
    pub branch: String,
    pub vcs_revision: String,
    pub status: &'static str,
    pub outcome: Option<&'static str>,
    pub lifecycle: &'static str,
    pub start_time: String,
    pub stop_time: Option<String>,
    pub build_time_millis: Option<i64>,
    pub parallel: i64,
    pub why: &'static str,
}

impl BuildSummary {
    pub fn new(public_url: &str, project: &Project, build: &Build) -> Self {
        let status = build.status;
        let vcs = project.vcs;
        BuildSummary {
            build_num: build.build_num,
            build_url: format!("{public_url}{}", crate::urls::build_page(project, build.build_num)),
            vcs_url: vcs_url(project),
            vcs_type: vcs.as_str(),
            username: project.org.clone(),
            reponame: project.repo.clone(),
            branch: build.branch.clone(),
            vcs_revision: build.revision.clone(),
            status: status.as_str(),
            outcome: status.is_finished().then_some(status.as_str()),
            lifecycle: if status == BuildStatus::Running { "running" } else { "finished" },
            start_time: iso_time(build.start_time),
            stop_time: build.stop_time.map(iso_time),
            build_time_millis: build.stop_time.map(|stop| (stop - build.start_time) * 1000),
            parallel: build.parallelism,
            why: "api",
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ArtifactEntry {
    pub path: String,
    pub pretty_path: String,
    pub node_index: i64,
    pub url: String,
    /// Vitrine's additions (CircleCI clients ignore them): what `vitrine artifacts download`
    /// checks each file against.
    pub size: i64,
    pub sha256: String,
}

impl ArtifactEntry {
    pub fn new(public_url: &str, project: &Project, build_num: i64, a: &Artifact) -> Self {
        ArtifactEntry {
            path: a.path.clone(),
            pretty_path: a.pretty_path.clone(),
            node_index: a.node_index,
            url: format!("{public_url}{}", artifact_route(project, build_num, a.node_index, &a.pretty_path)),
            size: a.size,
            sha256: a.sha256.clone(),
        }
    }
}
