//! What each `vitrine admin` command changes, as the audit log records it, and who ran it.

use super::admin_args::{
    AdminCommand, BuildCommand, CapabilitiesCommand, MemberCommand, ProjectCommand, Retention, SessionCommand,
    TokenCommand, UserCommand, token_id,
};
use crate::core::audit::AuditAction;
use crate::domain::ProjectSlug;

/// What a command changes, for the audit log: (action, project, build, detail). Reading
/// commands change nothing.
pub(super) fn change_of(command: &AdminCommand) -> Option<(AuditAction, Option<String>, Option<i64>, String)> {
    use AdminCommand as A;
    let project = |slug: &ProjectSlug| Some(slug.short());
    Some(match command {
        A::User(UserCommand::Add { name, admin, .. }) => {
            (AuditAction::AdminUserAdd, None, None, if *admin { format!("{name} (admin)") } else { name.clone() })
        }
        A::User(UserCommand::Promote { name }) => (AuditAction::AdminUserPromote, None, None, name.clone()),
        A::User(UserCommand::Demote { name }) => (AuditAction::AdminUserDemote, None, None, name.clone()),
        A::User(UserCommand::Disable { name }) => (AuditAction::AdminUserDisable, None, None, name.clone()),
        A::User(UserCommand::Enable { name }) => (AuditAction::AdminUserEnable, None, None, name.clone()),
        A::User(UserCommand::Link { name, issuer, subject }) => {
            (AuditAction::AdminUserLink, None, None, format!("{name} is {subject} at {issuer}"))
        }
        A::User(UserCommand::Unlink { issuer, subject }) => {
            (AuditAction::AdminUserUnlink, None, None, format!("{subject} at {issuer}"))
        }
        A::Token(TokenCommand::Create { name, scope, .. }) => {
            (AuditAction::AdminTokenCreate, None, None, format!("for {name}, {}", scope.as_str()))
        }
        A::Token(TokenCommand::Revoke { token }) => {
            // An id is logged as it is; a token itself never is.
            let which = match token_id(token) {
                Some(id) => format!("id {id}"),
                None => "given in full".to_owned(),
            };
            (AuditAction::AdminTokenRevoke, None, None, which)
        }
        A::Token(TokenCommand::List { .. })
        | A::Audit { .. }
        | A::User(UserCommand::Identities { .. })
        | A::Project(ProjectCommand::Groups { .. }) => return None,
        A::Project(ProjectCommand::Add { slug, public }) => {
            (AuditAction::AdminProjectAdd, project(slug), None, if *public { "public" } else { "private" }.to_owned())
        }
        A::Project(ProjectCommand::Token { slug }) => {
            (AuditAction::AdminProjectToken, project(slug), None, String::new())
        }
        A::Project(ProjectCommand::Retention { slug, retention }) => {
            let detail = match retention {
                Retention::Default => "default".to_owned(),
                Retention::Keep(d) => format!("{}d", d.as_secs() / 86400),
            };
            (AuditAction::AdminProjectRetention, project(slug), None, detail)
        }
        A::Project(ProjectCommand::DefaultBranch { slug, branch }) => {
            (AuditAction::AdminProjectDefaultBranch, project(slug), None, branch.clone())
        }
        A::Project(ProjectCommand::MapGroup { slug, group, role }) => {
            (AuditAction::AdminGroupMap, project(slug), None, format!("{group} as {}", role.as_str()))
        }
        A::Project(ProjectCommand::UnmapGroup { slug, group }) => {
            (AuditAction::AdminGroupUnmap, project(slug), None, group.clone())
        }
        A::Member(MemberCommand::Add { slug, name, role }) => {
            (AuditAction::AdminMemberAdd, project(slug), None, format!("{name} as {}", role.as_str()))
        }
        A::Member(MemberCommand::Remove { slug, name }) => {
            (AuditAction::AdminMemberRemove, project(slug), None, name.clone())
        }
        A::Session(SessionCommand::Revoke { name }) => (AuditAction::AdminSessionRevoke, None, None, name.clone()),
        A::Build(BuildCommand::Pin { slug, build }) => {
            (AuditAction::AdminBuildPin, project(slug), Some(build.0), String::new())
        }
        A::Build(BuildCommand::Unpin { slug, build }) => {
            (AuditAction::AdminBuildUnpin, project(slug), Some(build.0), String::new())
        }
        A::Purge { project: slug, build, path } => {
            (AuditAction::AdminPurge, project(slug), build.map(|b| b.0), path.clone().unwrap_or_default())
        }
        A::Migrate { .. } => (AuditAction::AdminMigrate, None, None, "to PostgreSQL".to_owned()),
        A::Backup { dest } => (AuditAction::AdminBackup, None, None, format!("to {}", dest.display())),
        A::Restore { src } => (AuditAction::AdminRestore, None, None, format!("from {}", src.display())),
        A::Capabilities(CapabilitiesCommand::Rotate) => {
            (AuditAction::AdminCapabilitiesRotate, None, None, String::new())
        }
    })
}

/// Who runs `vitrine admin`: the account at the command line.
pub(super) fn admin_actor() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| format!("uid {}", rustix::process::getuid().as_raw()));
    format!("admin ({user})")
}
