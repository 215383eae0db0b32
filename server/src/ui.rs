//! The UI's backend: what the Leptos server functions call, implemented over the services.

use std::sync::Arc;

use vitrine_app::api::backend::{CookiePolicy, UiBackend};
use vitrine_app::api::{ArtifactView, BuildPageData, BuildView, ProjectBuilds, ProjectView, UiError};

use crate::api::v1_1::views::iso_time;
use crate::db::{Build, Project};
use crate::domain::{BuildNum, BuildRef, ProjectSlug};
use crate::services::{Principal, ServiceError, Vitrine};
use crate::urls::artifact_route;

pub struct UiService {
    vitrine: Vitrine,
}

impl UiService {
    pub fn shared(vitrine: Vitrine) -> Arc<dyn UiBackend> {
        Arc::new(UiService { vitrine })
    }

    async fn principal(&self, session: Option<String>) -> Result<Principal, UiError> {
        match session {
            None => Ok(Principal::Anonymous),
            Some(s) => self.vitrine.accounts().principal_for_session(&s).await.map_err(ui_error),
        }
    }
}

fn ui_error(e: ServiceError) -> UiError {
    match e {
        ServiceError::NotFound(m) => UiError::NotFound(m),
        ServiceError::BadRequest(m) | ServiceError::Conflict(m) => UiError::BadRequest(m),
        ServiceError::Unauthorized(m) => UiError::Unauthorized(m),
        ServiceError::Forbidden(m) => UiError::Forbidden(m),
        ServiceError::TooManyRequests { message, retry_after } => UiError::TooManyRequests { message, retry_after },
        ServiceError::Unavailable(m) => UiError::Unavailable(m),
        ServiceError::Internal(cause) => {
            tracing::error!(error = ?cause, "internal error in a page");
            UiError::Internal
        }
    }
}

fn project_view(p: &Project) -> ProjectView {
    ProjectView { vcs: p.vcs.short().to_owned(), org: p.org.clone(), repo: p.repo.clone(), public: p.public }
}

fn build_view(b: &Build) -> BuildView {
    BuildView {
        build_num: b.build_num,
        branch: b.branch.clone(),
        revision: b.revision.clone(),
        status: b.status.as_str().to_owned(),
        start_time: iso_time(b.start_time),
        stop_time: b.stop_time.map(iso_time),
        duration_secs: b.stop_time.map(|s| s - b.start_time),
        parallelism: b.parallelism,
        pinned: b.pinned_at.is_some(),
        artifacts_expired_at: b.artifacts_expired_at.map(iso_time),
    }
}

fn slug(vcs: &str, org: &str, repo: &str) -> Result<ProjectSlug, UiError> {
    // A malformed address names no project: the page says so as it would for a missing one.
    ProjectSlug::new(vcs, org, repo).map_err(|_| UiError::NotFound("Project not found".into()))
}

#[async_trait::async_trait]
impl UiBackend for UiService {
    async fn current_user(&self, session: Option<String>) -> Result<Option<String>, UiError> {
        Ok(match self.principal(session).await? {
            Principal::User { username, .. } => Some(username),
            _ => None,
        })
    }

    async fn projects(&self, session: Option<String>) -> Result<Vec<ProjectView>, UiError> {
        let who = self.principal(session).await?;
        let projects = self.vitrine.visible_projects(&who).await.map_err(ui_error)?;
        Ok(projects.iter().map(project_view).collect())
    }

    async fn builds(
        &self,
        session: Option<String>,
        vcs: &str,
        org: &str,
        repo: &str,
    ) -> Result<ProjectBuilds, UiError> {
        let who = self.principal(session).await?;
        let slug = slug(vcs, org, repo)?;
        let (project, builds) = self.vitrine.recent_builds(&who, &slug, None, None, 100, 0).await.map_err(ui_error)?;
        Ok(ProjectBuilds { project: project_view(&project), builds: builds.iter().map(build_view).collect() })
    }

    async fn build_page(
        &self,
        session: Option<String>,
        vcs: &str,
        org: &str,
        repo: &str,
        build_num: &str,
    ) -> Result<BuildPageData, UiError> {
        let who = self.principal(session).await?;
        let slug = slug(vcs, org, repo)?;
        let num: BuildNum =
            build_num.parse().map_err(|_| UiError::NotFound(format!("There is no build {build_num}")))?;
        let (project, build, artifacts) =
            self.vitrine.list_artifacts(&who, &slug, &BuildRef::Num(num)).await.map_err(ui_error)?;
        let artifact_count = artifacts.len();
        let artifacts = artifacts
            .iter()
            .take(vitrine_app::api::MAX_PAGE_ARTIFACTS)
            .map(|a| ArtifactView {
                node_index: a.node_index,
                path: a.path.clone(),
                pretty_path: a.pretty_path.clone(),
                url: artifact_route(&project, build.build_num, a.node_index, &a.pretty_path),
                size: a.size,
                content_type: a.content_type.clone(),
            })
            .collect();
        let can_pin = match &who {
            Principal::User { id, .. } => {
                self.vitrine.db.is_member(project.id, *id).await.map_err(|e| ui_error(e.into()))?
            }
            _ => false,
        };
        Ok(BuildPageData {
            project: project_view(&project),
            build: build_view(&build),
            artifacts,
            artifact_count,
            can_pin,
        })
    }

    async fn pin_build(
        &self,
        session: Option<String>,
        vcs: &str,
        org: &str,
        repo: &str,
        build_num: &str,
        pin: bool,
    ) -> Result<(), UiError> {
        let who = self.principal(session).await?;
        let slug = slug(vcs, org, repo)?;
        let num: BuildNum =
            build_num.parse().map_err(|_| UiError::NotFound(format!("There is no build {build_num}")))?;
        self.vitrine.pin_build(&who, &slug, num, pin).await.map_err(ui_error)?;
        Ok(())
    }

    async fn login(
        &self,
        username: &str,
        password: &str,
        headers: &http::HeaderMap,
        extensions: &http::Extensions,
    ) -> Result<String, UiError> {
        let peer = extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
        let client = self.vitrine.settings.client_addr(headers, peer);
        self.vitrine.accounts().login(username, password, client).await.map_err(ui_error)
    }

    fn cookies(&self) -> CookiePolicy {
        self.vitrine.settings.cookies()
    }

    fn content_security_policy(&self, nonce: &str) -> String {
        self.vitrine.settings.content_security_policy(nonce)
    }
}
