//! Who is asking: a user, a project's build agent, a running build's own processes, or
//! nobody in particular.

use vitrine_store::{BuildId, ProjectId, Scope, TokenId, UserId};

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Anonymous,
    /// A user, by an API token (`token_id`) or a browser session (`None`).
    User {
        id: UserId,
        username: String,
        token_id: Option<TokenId>,
        /// An instance admin: sees every project and may change everything.
        admin: bool,
        /// What this way in may do: a session may change what its user may change; a token
        /// as its scope says.
        scope: Scope,
    },
    /// A project build token: may create builds and upload for that project only.
    BuildAgent {
        project_id: ProjectId,
        token_id: TokenId,
    },
    /// A running build's own token (given to its processes): may add artifacts to that build
    /// only, while it runs; reads nothing.
    BuildNode {
        project_id: ProjectId,
        build_id: BuildId,
    },
}

impl Principal {
    /// Who this is, for the audit log: `alice (token 12)`, `alice (session)`, `build token 3`,
    /// `build 7's own token`, `anonymous`. Never a token itself.
    pub fn describe(&self) -> String {
        match self {
            Principal::Anonymous => "anonymous".into(),
            Principal::User { username, token_id: Some(t), .. } => format!("{username} (token {t})"),
            Principal::User { username, token_id: None, .. } => format!("{username} (session)"),
            Principal::BuildAgent { token_id, .. } => format!("build token {token_id}"),
            Principal::BuildNode { build_id, .. } => format!("build {build_id}'s own token"),
        }
    }

    pub fn user_id(&self) -> Option<UserId> {
        match self {
            Principal::User { id, .. } => Some(*id),
            _ => None,
        }
    }

    /// An instance admin, by any way in (a read-only token still reads everything).
    pub fn is_admin(&self) -> bool {
        matches!(self, Principal::User { admin: true, .. })
    }

    /// A user by a session or by a token that may change things.
    pub fn may_change(&self) -> bool {
        matches!(self, Principal::User { scope: Scope::Admin, .. })
    }

    pub fn token_id(&self) -> Option<TokenId> {
        match self {
            Principal::User { token_id, .. } => *token_id,
            Principal::BuildAgent { token_id, .. } => Some(*token_id),
            _ => None,
        }
    }
}
