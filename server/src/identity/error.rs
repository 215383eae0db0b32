//! Why a provider's answer was not taken.

/// Why a provider's answer was not taken: `reason` is a short code for the audit log and
/// metrics, `detail` what went wrong, for the log.
#[derive(Debug, Clone, thiserror::Error)]
pub enum IdentityError {
    /// The provider did not answer, or answered what is not OpenID Connect.
    #[error("the identity provider did not answer as expected: {0}")]
    Unreachable(String),
    /// The provider's answer was checked and refused.
    #[error("refused ({reason}): {detail}")]
    Refused { reason: &'static str, detail: String },
}

impl IdentityError {
    pub(super) fn refused(reason: &'static str, detail: impl std::fmt::Display) -> IdentityError {
        IdentityError::Refused { reason, detail: detail.to_string() }
    }
}
