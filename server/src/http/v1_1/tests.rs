//! `GET /api/v1.1/project/:vcs/:org/:repo/:build_num/tests`: a build's test metadata, in
//! CircleCI's shape.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::core::Principal;
use crate::http::error::ApiResult;
use crate::http::extract::BuildAt;
use crate::http::state::AppState;
use vitrine_store::{TestResult, TestRun};
use vitrine_wire::agent::ErrorBody;

/// One test's run, as CircleCI's v1.1 test metadata gives it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TestEntry {
    pub classname: String,
    pub file: Option<String>,
    pub name: String,
    /// `success`, `failure` (errors too) or `skipped`.
    pub result: &'static str,
    /// Seconds.
    pub run_time: f64,
    /// The failure's message attribute followed by its text, as CircleCI gives it.
    pub message: Option<String>,
    /// The report the test came from.
    pub source: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TestsEnvelope {
    pub tests: Vec<TestEntry>,
}

impl TestEntry {
    pub fn new(run: TestRun) -> TestEntry {
        let result = match run.result {
            TestResult::Success => "success",
            TestResult::Skipped => "skipped",
            TestResult::Failure | TestResult::Error => "failure",
        };
        let message = [run.message.as_str(), run.detail.as_str()]
            .into_iter()
            .filter(|m| !m.is_empty())
            .collect::<Vec<_>>()
            .join("\n");
        TestEntry {
            classname: run.classname,
            file: Some(run.file).filter(|f| !f.is_empty()),
            name: run.name,
            result,
            run_time: run.run_time.unwrap_or(0.0),
            message: Some(message).filter(|m| !m.is_empty()),
            source: run.source,
        }
    }
}

/// `GET /api/v1.1/project/:vcs/:org/:repo/:build_num/tests` (also `latest`): every test run
/// of the build, in the reports' order; `{"tests": []}` for a build without test results.
#[utoipa::path(get, path = "/api/v1.1/project/{vcs}/{org}/{repo}/{build_num}/tests", tag = "v1.1",
    params(crate::http::extract::BuildAt),
    responses(
        (status = 200, description = "The build's test metadata", body = TestsEnvelope),
        (status = 401, description = "The token is not valid", body = ErrorBody), (status = 404, description = "No such project or build, or not visible to the caller", body = ErrorBody)))]
pub async fn list_tests(
    State(state): State<AppState>,
    who: Principal,
    BuildAt { slug, build }: BuildAt,
) -> ApiResult<Response> {
    let (project, build, runs) = state.vitrine.test_results().build_tests(&who, &slug, &build).await?;
    let cache_control = match (project.public, build.status.is_finished()) {
        (_, false) => "no-store",
        (true, true) => "public, no-cache",
        (false, true) => "private, no-cache",
    };
    let body = TestsEnvelope { tests: runs.into_iter().map(TestEntry::new).collect() };
    Ok(([(header::CACHE_CONTROL, cache_control)], axum::Json(body)).into_response())
}
