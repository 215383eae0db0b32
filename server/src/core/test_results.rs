//! A build's test results (CircleCI's `store_test_results`): the runs of its tests, read with
//! the same access rules as its artifacts.

use std::sync::Arc;

use super::builds::Builds;
use super::error::ServiceResult;
use super::principal::Principal;
use crate::domain::{BuildRef, ProjectSlug};
use vitrine_store::{Build, Db, Project, TestResultStore, TestRun};

/// Runs read from the store a page at a time.
const PAGE: i64 = 5_000;
/// A build's runs answered at most (CircleCI's v1.1 route answers them all in one array).
pub const MAX_RUNS: i64 = 200_000;

#[derive(Clone)]
pub struct TestResults {
    db: Arc<dyn TestResultStore>,
    builds: Builds,
}

impl TestResults {
    pub fn new(db: &Db, builds: Builds) -> TestResults {
        TestResults { db: db.test_result_store(), builds }
    }

    /// Every run of a build's tests, in the reports' order, for whoever may read the build.
    pub async fn build_tests(
        &self,
        who: &Principal,
        slug: &ProjectSlug,
        build: &BuildRef,
    ) -> ServiceResult<(Project, Build, Vec<TestRun>)> {
        let (project, build) = self.builds.find_build(who, slug, build).await?;
        let mut runs: Vec<TestRun> = Vec::new();
        loop {
            let after = runs.last().map_or(0, |r| r.seq);
            let page = self.db.test_runs(build.id, after, PAGE).await?;
            let done = (page.len() as i64) < PAGE;
            runs.extend(page);
            if done || runs.len() as i64 >= MAX_RUNS {
                break;
            }
        }
        Ok((project, build, runs))
    }
}
