//! What the accounts feature sees of the metadata store: users, their sessions and their
//! tokens (API, project and build tokens), and the macro that implements it for both stores.

use super::error::DbResult;
use super::ids::{ProjectId, TokenId, UserId};
use super::models::{SessionInfo, SessionOwner, TokenFound, TokenInfo, TokenOwner, TokenTerms, User, UserSummary};

/// Users, sessions and tokens: who is signed in, and whose a token is.
#[async_trait::async_trait]
pub trait AccountStore: Send + Sync {
    async fn insert_user(&self, username: &str, password_hash: &str, admin: bool) -> DbResult<UserId>;
    async fn user_by_name(&self, username: &str) -> DbResult<User>;
    async fn user_by_id(&self, id: UserId) -> DbResult<User>;
    /// Every user, by name.
    async fn users(&self) -> DbResult<Vec<UserSummary>>;
    async fn set_user_admin(&self, user_id: UserId, admin: bool) -> DbResult<()>;
    /// How many enabled instance admins there are.
    async fn admin_count(&self) -> DbResult<i64>;
    async fn set_password_hash(&self, user_id: UserId, password_hash: &str) -> DbResult<()>;
    async fn insert_token(&self, token_hash: &str, owner: TokenOwner, terms: &TokenTerms) -> DbResult<TokenId>;
    /// Whose token this is (a disabled user's counts as unknown), and when it was last used.
    async fn token_owner(&self, token_hash: &str) -> DbResult<TokenFound>;
    async fn delete_token(&self, token_hash: &str) -> DbResult<()>;
    /// A new session; `agent` is the browser's User-Agent (shown to its owner).
    async fn insert_session(&self, token_hash: &str, user_id: UserId, expires_at: i64, agent: &str) -> DbResult<()>;
    /// A user's sessions that have not expired, newest first; `current_hash` marks the one asking.
    async fn user_sessions(&self, user_id: UserId, current_hash: &str) -> DbResult<Vec<SessionInfo>>;
    /// Ends every session of a user but `keep_hash`; answers how many ended.
    async fn delete_other_sessions(&self, user_id: UserId, keep_hash: &str) -> DbResult<u64>;
    /// A live session's user (an enabled one), and when a provider last vouched for it.
    async fn session_user(&self, token_hash: &str) -> DbResult<SessionOwner>;
    async fn delete_session(&self, token_hash: &str) -> DbResult<()>;
    /// Tokens, oldest first: all, or a user's, or a project's (its build tokens and its
    /// running builds' own tokens).
    async fn tokens(&self, user_id: Option<UserId>, project_id: Option<ProjectId>) -> DbResult<Vec<TokenInfo>>;
    /// Whose token this is, by its id (a disabled user's or an expired one counts as unknown).
    async fn token_by_id(&self, id: TokenId) -> DbResult<TokenOwner>;
    async fn delete_token_by_id(&self, id: TokenId) -> DbResult<()>;
    /// Notes that a token was used now; written at most once a minute per token.
    async fn touch_token(&self, token_hash: &str) -> DbResult<()>;
    async fn set_user_disabled(&self, user_id: UserId, disabled: bool) -> DbResult<()>;
    /// Ends every session of a user; answers how many there were.
    async fn delete_user_sessions(&self, user_id: UserId) -> DbResult<u64>;
    /// Whether any user exists (a new installation has none).
    async fn any_user(&self) -> DbResult<bool>;
}

/// Expands to `impl AccountStore for $store`, its queries written once for both stores.
/// `$store` has a `pool: sqlx::Pool<$db>` (`$db`: `sqlx::Sqlite` or `sqlx::Postgres`); names
/// the query needs (rows, columns, models) are those in scope where it expands.
macro_rules! account_store {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl AccountStore for $store {
            async fn insert_user(&self, username: &str, password_hash: &str, admin: bool) -> DbResult<UserId> {
                sqlx::query_scalar(
                    "INSERT INTO users (username, password_hash, created_at, admin) VALUES ($1, $2, $3, $4) RETURNING id",
                )
                    .bind(username)
                    .bind(password_hash)
                    .bind(now())
                    .bind(admin)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(DbError::from_sqlx)
            }

            async fn user_by_name(&self, username: &str) -> DbResult<User> {
                sqlx::query_as::<_, UserRow>("SELECT id, username, password_hash, disabled_at, admin FROM users WHERE username = $1")
                    .bind(username)
                    .fetch_one(&self.pool)
                    .await
                    .map(User::from)
                    .map_err(DbError::from_sqlx)
            }

            async fn user_by_id(&self, id: UserId) -> DbResult<User> {
                sqlx::query_as::<_, UserRow>("SELECT id, username, password_hash, disabled_at, admin FROM users WHERE id = $1")
                    .bind(id)
                    .fetch_one(&self.pool)
                    .await
                    .map(User::from)
                    .map_err(DbError::from_sqlx)
            }

            async fn users(&self) -> DbResult<Vec<UserSummary>> {
                let rows: Vec<UserSummaryRow> =
                    sqlx::query_as("SELECT id, username, disabled_at, admin, created_at FROM users ORDER BY username")
                        .fetch_all(&self.pool)
                        .await?;
                Ok(rows.into_iter().map(UserSummary::from).collect())
            }

            async fn set_user_admin(&self, user_id: UserId, admin: bool) -> DbResult<()> {
                let done = sqlx::query("UPDATE users SET admin = $1, admin_by_group = FALSE WHERE id = $2")
                    .bind(admin)
                    .bind(user_id)
                    .execute(&self.pool)
                    .await?;
                if done.rows_affected() == 0 { Err(DbError::NotFound) } else { Ok(()) }
            }

            async fn admin_count(&self) -> DbResult<i64> {
                Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE admin AND disabled_at IS NULL")
                    .fetch_one(&self.pool)
                    .await?)
            }

            async fn set_password_hash(&self, user_id: UserId, password_hash: &str) -> DbResult<()> {
                let done = sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
                    .bind(password_hash)
                    .bind(user_id)
                    .execute(&self.pool)
                    .await?;
                if done.rows_affected() == 0 { Err(DbError::NotFound) } else { Ok(()) }
            }

            async fn insert_token(&self, token_hash: &str, owner: TokenOwner, terms: &TokenTerms) -> DbResult<TokenId> {
                let (user_id, project_id, build_id) = match owner {
                    TokenOwner::User(id) => (Some(id), None, None),
                    TokenOwner::Project(id) => (None, Some(id), None),
                    TokenOwner::Build { project_id, build_id } => (None, Some(project_id), Some(build_id)),
                };
                sqlx::query_scalar(
                    "INSERT INTO tokens (token_hash, user_id, project_id, build_id, created_at, label, scope, expires_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                )
                .bind(token_hash)
                .bind(user_id)
                .bind(project_id)
                .bind(build_id)
                .bind(now())
                .bind(&terms.label)
                .bind(terms.scope.as_str())
                .bind(terms.expires_at)
                .fetch_one(&self.pool)
                .await
                .map_err(DbError::from_sqlx)
            }

            async fn token_owner(&self, token_hash: &str) -> DbResult<TokenFound> {
                let row: TokenRow = sqlx::query_as(
                    "SELECT t.id, t.user_id, t.project_id, t.build_id, t.last_used_at, t.scope, t.expires_at FROM tokens t
                     LEFT JOIN users u ON u.id = t.user_id
                     WHERE t.token_hash = $1 AND u.disabled_at IS NULL",
                )
                .bind(token_hash)
                .fetch_one(&self.pool)
                .await
                .map_err(DbError::from_sqlx)?;
                Ok(TokenFound {
                    id: row.id,
                    owner: row.owner().ok_or(DbError::NotFound)?,
                    last_used_at: row.last_used_at,
                    scope: Scope::from_stored(&row.scope),
                    expires_at: row.expires_at,
                })
            }

            async fn delete_token(&self, token_hash: &str) -> DbResult<()> {
                let done = sqlx::query("DELETE FROM tokens WHERE token_hash = $1").bind(token_hash).execute(&self.pool).await?;
                if done.rows_affected() == 0 { Err(DbError::NotFound) } else { Ok(()) }
            }

            async fn insert_session(&self, token_hash: &str, user_id: UserId, expires_at: i64, agent: &str) -> DbResult<()> {
                sqlx::query(
                    "INSERT INTO sessions (token_hash, user_id, expires_at, created_at, agent) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(token_hash)
                .bind(user_id)
                .bind(expires_at)
                .bind(now())
                .bind(agent)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn user_sessions(&self, user_id: UserId, current_hash: &str) -> DbResult<Vec<SessionInfo>> {
                let rows: Vec<SessionRow> = sqlx::query_as(
                    "SELECT id, token_hash, created_at, expires_at, agent FROM sessions
                     WHERE user_id = $1 AND expires_at > $2 ORDER BY created_at DESC, id DESC",
                )
                .bind(user_id)
                .bind(now())
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(|r| r.info(current_hash)).collect())
            }

            async fn delete_other_sessions(&self, user_id: UserId, keep_hash: &str) -> DbResult<u64> {
                let done = sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND token_hash <> $2")
                    .bind(user_id)
                    .bind(keep_hash)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected())
            }

            async fn session_user(&self, token_hash: &str) -> DbResult<SessionOwner> {
                sqlx::query_as::<_, SessionOwnerRow>("SELECT s.user_id, s.checked_at FROM sessions s JOIN users u ON u.id = s.user_id
                     WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.disabled_at IS NULL")
                    .bind(token_hash)
                    .bind(now())
                    .fetch_one(&self.pool)
                    .await
                    .map(SessionOwner::from)
                    .map_err(DbError::from_sqlx)
            }

            async fn delete_session(&self, token_hash: &str) -> DbResult<()> {
                sqlx::query("DELETE FROM sessions WHERE token_hash = $1 OR expires_at <= $2")
                    .bind(token_hash)
                    .bind(now())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn tokens(&self, user_id: Option<UserId>, project_id: Option<ProjectId>) -> DbResult<Vec<TokenInfo>> {
                let rows: Vec<TokenInfoRow> = sqlx::query_as(
                    "SELECT t.id, t.user_id, t.project_id, t.build_id, t.created_at, t.last_used_at,
                            u.username, p.vcs_type, p.org, p.repo, b.build_num, t.label, t.scope, t.expires_at
                     FROM tokens t
                     LEFT JOIN users u ON u.id = t.user_id
                     LEFT JOIN projects p ON p.id = t.project_id
                     LEFT JOIN builds b ON b.id = t.build_id
                     WHERE ($1 IS NULL OR t.user_id = $1) AND ($2 IS NULL OR t.project_id = $2)
                     ORDER BY t.id",
                )
                .bind(user_id)
                .bind(project_id)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().filter_map(TokenInfoRow::info).collect())
            }

            async fn token_by_id(&self, id: TokenId) -> DbResult<TokenOwner> {
                let row: TokenRow = sqlx::query_as(
                    "SELECT t.id, t.user_id, t.project_id, t.build_id, t.last_used_at FROM tokens t
                     LEFT JOIN users u ON u.id = t.user_id
                     WHERE t.id = $1 AND u.disabled_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > $2)",
                )
                .bind(id)
                .bind(now())
                .fetch_one(&self.pool)
                .await
                .map_err(DbError::from_sqlx)?;
                row.owner().ok_or(DbError::NotFound)
            }

            async fn delete_token_by_id(&self, id: TokenId) -> DbResult<()> {
                let done = sqlx::query("DELETE FROM tokens WHERE id = $1").bind(id).execute(&self.pool).await?;
                if done.rows_affected() == 0 { Err(DbError::NotFound) } else { Ok(()) }
            }

            async fn touch_token(&self, token_hash: &str) -> DbResult<()> {
                let now = now();
                sqlx::query(
                    "UPDATE tokens SET last_used_at = $1
                     WHERE token_hash = $2 AND (last_used_at IS NULL OR last_used_at < $3)",
                )
                .bind(now)
                .bind(token_hash)
                .bind(now - 60)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn set_user_disabled(&self, user_id: UserId, disabled: bool) -> DbResult<()> {
                sqlx::query("UPDATE users SET disabled_at = $1 WHERE id = $2")
                    .bind(disabled.then(now))
                    .bind(user_id)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn delete_user_sessions(&self, user_id: UserId) -> DbResult<u64> {
                let done = sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(user_id).execute(&self.pool).await?;
                Ok(done.rows_affected())
            }

            async fn any_user(&self) -> DbResult<bool> {
                Ok(sqlx::query_scalar::<_, i64>("SELECT id FROM users LIMIT 1").fetch_optional(&self.pool).await?.is_some())
            }
        }
    };
}

pub(super) use account_store;
