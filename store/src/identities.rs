//! What sign-in through identity providers sees of the metadata store: who a user is at a
//! provider, sign-ins on their way through one, what a provider's session keeps, and the
//! roles that groups give; and the macro that implements it for both stores.

use super::error::DbResult;
use super::ids::{ProjectId, UserId};
use super::models::{GroupRole, Identity, PendingSignIn, Role, SessionIdentity};

/// Identities, pending sign-ins, sessions' provider records and group roles.
#[async_trait::async_trait]
pub trait IdentityStore: Send + Sync {
    /// The user an identity belongs to (`NotFound`: nobody yet).
    async fn identity_user(&self, issuer: &str, subject: &str) -> DbResult<UserId>;
    /// Gives an identity to a user, taking it from whoever had it; notes a sign-in when `signed_in`.
    async fn link_identity(&self, issuer: &str, subject: &str, user_id: UserId, signed_in: bool) -> DbResult<()>;
    async fn unlink_identity(&self, issuer: &str, subject: &str) -> DbResult<()>;
    /// Identities, by username then issuer: all of them, or one user's.
    async fn identities(&self, user_id: Option<UserId>) -> DbResult<Vec<Identity>>;

    async fn insert_sign_in(&self, cookie_hash: &str, pending: &PendingSignIn) -> DbResult<()>;
    /// Takes a pending sign-in out (it is used once); `NotFound` when there is none.
    async fn take_sign_in(&self, cookie_hash: &str) -> DbResult<PendingSignIn>;
    /// Forgets sign-ins begun before `before` that never came back.
    async fn forget_sign_ins(&self, before: i64) -> DbResult<u64>;

    /// Records what a session opened through a provider keeps.
    async fn set_session_identity(&self, token_hash: &str, identity: &SessionIdentity) -> DbResult<()>;
    /// What a session opened through a provider keeps (`NotFound`: a password session, or none).
    async fn session_identity(&self, token_hash: &str) -> DbResult<SessionIdentity>;

    /// Makes `group`'s members `role` in the project (again: the role changes).
    async fn map_group(&self, project_id: ProjectId, group: &str, role: Role) -> DbResult<()>;
    /// Stops a group giving a role in the project, and takes back what it gave.
    async fn unmap_group(&self, project_id: ProjectId, group: &str) -> DbResult<()>;
    /// Every group role, of every project (they are few: read whole at each sign-in).
    async fn group_roles(&self) -> DbResult<Vec<GroupRole>>;
    /// Replaces a user's grants that came from groups with `grants`; grants by hand stay.
    async fn sync_group_grants(&self, user_id: UserId, grants: &[GroupRole]) -> DbResult<()>;
    /// Makes a user an instance admin through the admin group, or takes back what the group
    /// gave; an admin made by hand stays one.
    async fn set_admin_by_group(&self, user_id: UserId, in_group: bool) -> DbResult<()>;
}

/// Expands to `impl IdentityStore for $store`, its queries written once for both stores.
macro_rules! identity_store {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl IdentityStore for $store {
            async fn identity_user(&self, issuer: &str, subject: &str) -> DbResult<UserId> {
                sqlx::query_scalar("SELECT user_id FROM user_identities WHERE issuer = $1 AND subject = $2")
                    .bind(issuer)
                    .bind(subject)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(DbError::from_sqlx)
            }

            async fn link_identity(&self, issuer: &str, subject: &str, user_id: UserId, signed_in: bool) -> DbResult<()> {
                let now = now();
                sqlx::query(
                    "INSERT INTO user_identities (issuer, subject, user_id, linked_at, last_sign_in_at)
                     VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (issuer, subject) DO UPDATE SET
                        linked_at = CASE WHEN user_identities.user_id = excluded.user_id
                                         THEN user_identities.linked_at ELSE excluded.linked_at END,
                        user_id = excluded.user_id,
                        last_sign_in_at = COALESCE(excluded.last_sign_in_at, user_identities.last_sign_in_at)",
                )
                .bind(issuer)
                .bind(subject)
                .bind(user_id)
                .bind(now)
                .bind(signed_in.then_some(now))
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn unlink_identity(&self, issuer: &str, subject: &str) -> DbResult<()> {
                let done = sqlx::query("DELETE FROM user_identities WHERE issuer = $1 AND subject = $2")
                    .bind(issuer)
                    .bind(subject)
                    .execute(&self.pool)
                    .await?;
                if done.rows_affected() == 0 { Err(DbError::NotFound) } else { Ok(()) }
            }

            async fn identities(&self, user_id: Option<UserId>) -> DbResult<Vec<Identity>> {
                let rows: Vec<IdentityRow> = sqlx::query_as(
                    "SELECT i.issuer, i.subject, i.user_id, u.username, i.linked_at, i.last_sign_in_at
                     FROM user_identities i JOIN users u ON u.id = i.user_id
                     WHERE $1 IS NULL OR i.user_id = $1 ORDER BY u.username, i.issuer, i.subject",
                )
                .bind(user_id)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(Identity::from).collect())
            }

            async fn insert_sign_in(&self, cookie_hash: &str, pending: &PendingSignIn) -> DbResult<()> {
                sqlx::query(
                    "INSERT INTO sign_in_attempts (cookie_hash, issuer, state, nonce, pkce_verifier, next, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(cookie_hash)
                .bind(&pending.issuer)
                .bind(&pending.state)
                .bind(&pending.nonce)
                .bind(&pending.pkce_verifier)
                .bind(&pending.next)
                .bind(pending.created_at)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn take_sign_in(&self, cookie_hash: &str) -> DbResult<PendingSignIn> {
                sqlx::query_as::<_, PendingSignInRow>(
                    "DELETE FROM sign_in_attempts WHERE cookie_hash = $1
                     RETURNING issuer, state, nonce, pkce_verifier, next, created_at",
                )
                .bind(cookie_hash)
                .fetch_one(&self.pool)
                .await
                .map(PendingSignIn::from)
                .map_err(DbError::from_sqlx)
            }

            async fn forget_sign_ins(&self, before: i64) -> DbResult<u64> {
                let done =
                    sqlx::query("DELETE FROM sign_in_attempts WHERE created_at < $1").bind(before).execute(&self.pool).await?;
                Ok(done.rows_affected())
            }

            async fn set_session_identity(&self, token_hash: &str, identity: &SessionIdentity) -> DbResult<()> {
                let done = sqlx::query(
                    "UPDATE sessions SET issuer = $1, subject = $2, checked_at = $3, refresh_token = $4, id_token = $5
                     WHERE token_hash = $6",
                )
                .bind(&identity.issuer)
                .bind(&identity.subject)
                .bind(identity.checked_at)
                .bind(&identity.refresh_token)
                .bind(&identity.id_token)
                .bind(token_hash)
                .execute(&self.pool)
                .await?;
                if done.rows_affected() == 0 { Err(DbError::NotFound) } else { Ok(()) }
            }

            async fn session_identity(&self, token_hash: &str) -> DbResult<SessionIdentity> {
                sqlx::query_as::<_, SessionIdentityRow>(
                    "SELECT issuer, subject, checked_at, refresh_token, id_token FROM sessions
                     WHERE token_hash = $1 AND issuer IS NOT NULL AND subject IS NOT NULL AND checked_at IS NOT NULL",
                )
                .bind(token_hash)
                .fetch_one(&self.pool)
                .await
                .map(SessionIdentity::from)
                .map_err(DbError::from_sqlx)
            }

            async fn map_group(&self, project_id: ProjectId, group: &str, role: Role) -> DbResult<()> {
                sqlx::query(
                    "INSERT INTO project_groups (project_id, group_name, role, created_at) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (project_id, group_name) DO UPDATE SET role = excluded.role",
                )
                .bind(project_id)
                .bind(group)
                .bind(role.as_str())
                .bind(now())
                .execute(&self.pool)
                .await?;
                // Who has the group's grant has the new role at once, not at their next sign-in.
                sqlx::query("UPDATE project_members SET role = $1 WHERE project_id = $2 AND source = $3")
                    .bind(role.as_str())
                    .bind(project_id)
                    .bind(GrantSource::Group(group.to_owned()).stored())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn unmap_group(&self, project_id: ProjectId, group: &str) -> DbResult<()> {
                let mut tx = self.begin_write().await?;
                let done = sqlx::query("DELETE FROM project_groups WHERE project_id = $1 AND group_name = $2")
                    .bind(project_id)
                    .bind(group)
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() == 0 {
                    return Err(DbError::NotFound);
                }
                sqlx::query("DELETE FROM project_members WHERE project_id = $1 AND source = $2")
                    .bind(project_id)
                    .bind(GrantSource::Group(group.to_owned()).stored())
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn group_roles(&self) -> DbResult<Vec<GroupRole>> {
                let rows: Vec<GroupRoleRow> =
                    sqlx::query_as("SELECT project_id, group_name, role FROM project_groups ORDER BY project_id, group_name")
                        .fetch_all(&self.pool)
                        .await?;
                Ok(rows.into_iter().map(GroupRole::from).collect())
            }

            async fn sync_group_grants(&self, user_id: UserId, grants: &[GroupRole]) -> DbResult<()> {
                let mut tx = self.begin_write().await?;
                let held: Vec<(ProjectId, String)> =
                    sqlx::query_as("SELECT project_id, source FROM project_members WHERE user_id = $1 AND source LIKE 'group:%'")
                        .bind(user_id)
                        .fetch_all(&mut *tx)
                        .await?;
                let wanted: Vec<(ProjectId, String)> =
                    grants.iter().map(|g| (g.project_id, GrantSource::Group(g.group.clone()).stored())).collect();
                for (project_id, source) in held.iter().filter(|h| !wanted.contains(h)) {
                    sqlx::query("DELETE FROM project_members WHERE project_id = $1 AND user_id = $2 AND source = $3")
                        .bind(project_id)
                        .bind(user_id)
                        .bind(source)
                        .execute(&mut *tx)
                        .await?;
                }
                for (grant, (_, source)) in grants.iter().zip(&wanted) {
                    sqlx::query(
                        "INSERT INTO project_members (project_id, user_id, role, source, granted_at) VALUES ($1, $2, $3, $4, $5)
                         ON CONFLICT (project_id, user_id, source) DO UPDATE SET role = excluded.role",
                    )
                    .bind(grant.project_id)
                    .bind(user_id)
                    .bind(grant.role.as_str())
                    .bind(source)
                    .bind(now())
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn set_admin_by_group(&self, user_id: UserId, in_group: bool) -> DbResult<()> {
                let sql = if in_group {
                    "UPDATE users SET admin = TRUE, admin_by_group = TRUE WHERE id = $1 AND NOT admin"
                } else {
                    "UPDATE users SET admin = FALSE, admin_by_group = FALSE WHERE id = $1 AND admin_by_group"
                };
                sqlx::query(sql).bind(user_id).execute(&self.pool).await?;
                Ok(())
            }
        }
    };
}

pub(super) use identity_store;
