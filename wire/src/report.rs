//! What a build's reports say, as the server reads them and the build page shows them: a test
//! case's outcome, an image's change against the baseline build.

use serde::{Deserialize, Serialize};

/// How a test case ended, worst first (the order ranks them: a failure outranks a pass).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TestOutcome {
    Failed,
    Error,
    Skipped,
    Passed,
}

impl TestOutcome {
    /// Its name in class names and labels: `failed`, `error`, `skipped`, `passed`.
    pub fn as_str(self) -> &'static str {
        match self {
            TestOutcome::Failed => "failed",
            TestOutcome::Error => "error",
            TestOutcome::Skipped => "skipped",
            TestOutcome::Passed => "passed",
        }
    }

    /// A failure or an error: what a person opens first.
    pub fn is_failure(self) -> bool {
        matches!(self, TestOutcome::Failed | TestOutcome::Error)
    }
}

/// How an image differs from the same image (same container and path) of the baseline
/// build; an image with the same bytes there has no change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageChange {
    /// Other bytes than the baseline's.
    Changed,
    /// Not in the baseline.
    New,
}

impl ImageChange {
    pub fn as_str(self) -> &'static str {
        match self {
            ImageChange::Changed => "changed",
            ImageChange::New => "new",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_rank_worst_first() {
        assert!(TestOutcome::Failed < TestOutcome::Error && TestOutcome::Skipped < TestOutcome::Passed);
        assert_eq!(TestOutcome::Failed.min(TestOutcome::Passed), TestOutcome::Failed);
        assert!(TestOutcome::Error.is_failure() && !TestOutcome::Skipped.is_failure());
        assert_eq!(TestOutcome::Passed.as_str(), "passed");
        assert_eq!(ImageChange::New.as_str(), "new");
    }
}
