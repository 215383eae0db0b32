//! Users, passwords, API tokens, build tokens and browser sessions.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use rand::RngCore;
use sha2::{Digest, Sha256};

use super::error::{ServiceError, ServiceResult};
use super::lookups::Lookups;
use super::passwords::DUMMY_HASH;
pub use super::passwords::{PasswordChecks, check_password, hash_password};
use super::principal::Principal;
use super::projects::Projects;
use crate::domain::ProjectSlug;
use vitrine_store::{
    AccountStore, BuildId, Db, DbError, ProjectId, RateLimitStore, Scope, SessionInfo, TokenFound, TokenId, TokenOwner,
    TokenTerms, User, UserId,
};

const SESSION_DAYS: i64 = 30;

/// Failed sign-ins are counted in windows of this many seconds.
pub const SIGN_IN_WINDOW: i64 = 15 * 60;
/// Failed sign-ins per account per window; more are refused (429) until the window ends.
pub const SIGN_IN_FAILURES_PER_ACCOUNT: i64 = 10;
/// Failed sign-ins per client address (IPv6: per /64) per window.
pub const SIGN_IN_FAILURES_PER_ADDRESS: i64 = 50;

/// The rate-limit key of a client address: the address, or its /64 for IPv6 (one host
/// commonly holds a whole /64).
pub fn address_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => format!("sign-in:address:{v4}"),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                format!("sign-in:address:{v4}")
            } else {
                let s = v6.segments();
                format!("sign-in:address:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        }
    }
}

/// The refusal of a request past a sign-in limit (`limit`, as metrics count it) whose window
/// started at `started`: told when the window ends.
pub fn limit_reached(limit: &'static str, message: &str, started: i64, now: i64) -> ServiceError {
    metrics::counter!(crate::observe::RATE_LIMITED, "limit" => limit).increment(1);
    ServiceError::TooManyRequests {
        message: message.to_owned(),
        retry_after: (started + SIGN_IN_WINDOW - now).max(1) as u64,
    }
}

/// The refusal of a sign-in (password or provider) past the failed sign-ins' limits.
pub fn too_many_failed_sign_ins(started: i64, now: i64) -> ServiceError {
    limit_reached("failed_sign_ins", "Too many failed sign-ins; try again later", started, now)
}

/// 160 random bits as 40 hex characters, the shape of a CircleCI token.
pub fn new_token() -> String {
    let mut bytes = [0u8; 20];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Tokens are random and long, so a plain SHA-256 is a safe and fast lookup key.
pub fn hash_token(token: &str) -> String {
    let mut hex = [0u8; 64];
    hex::encode_to_slice(Sha256::digest(token.as_bytes()), &mut hex).expect("64 digits for 32 bytes");
    String::from_utf8_lossy(&hex).into_owned()
}

/// A token just made: its id, and the token itself, shown once.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub id: TokenId,
    pub token: String,
}

/// A valid username made of a provider's name for someone: other characters become `-`, at
/// most 60 characters (room for a `-N`), `user` when nothing is left.
fn username_like(wanted: &str) -> String {
    let name: String = wanted
        .split('@')
        .next()
        .unwrap_or_default()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '-' })
        .take(60)
        .collect();
    let name = name.trim_matches(|c| matches!(c, '-' | '.'));
    if name.is_empty() { "user".to_owned() } else { name.to_owned() }
}

pub fn check_username(name: &str) -> ServiceResult<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(ServiceError::BadRequest(format!(
            "Invalid username `{name}`: use 1 to 64 letters, digits, `-`, `_` or `.`"
        )))
    }
}

/// Accounts, access tokens and sessions; needs only the metadata store (and somewhere to
/// check passwords), so admin commands use it alone.
#[derive(Clone)]
pub struct Accounts {
    db: Arc<dyn AccountStore>,
    /// Failed sign-ins, counted in the store for every server.
    limits: Arc<dyn RateLimitStore>,
    passwords: PasswordChecks,
    /// Who recent tokens and sessions belong to (see [`super::lookups`]).
    lookups: Lookups,
    projects: Projects,
}

impl Accounts {
    pub fn new(db: &Db, passwords: PasswordChecks, lookups: Lookups, projects: Projects) -> Accounts {
        Accounts { db: db.account_store(), limits: db.rate_limit_store(), passwords, lookups, projects }
    }

    /// A user by id, while enabled (a capability's holder, asked again at each use).
    pub async fn enabled_user(&self, id: UserId) -> ServiceResult<Option<Principal>> {
        match self.db.user_by_id(id).await {
            Ok(user) if !user.disabled => Ok(Some(Principal::User {
                id,
                username: user.username,
                token_id: None,
                admin: user.admin,
                scope: Scope::Read,
            })),
            Ok(_) | Err(DbError::NotFound) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Whose token this is, by its id, while it is not revoked and not a disabled user's: a
    /// user's or a project's build token (a capability's holder, asked again at each use).
    pub async fn token_holder(&self, token_id: TokenId) -> ServiceResult<Option<Principal>> {
        match self.db.token_by_id(token_id).await {
            Ok(TokenOwner::User(id)) => {
                let user = self.db.user_by_id(id).await?;
                Ok(Some(Principal::User {
                    id,
                    username: user.username,
                    token_id: Some(token_id),
                    admin: user.admin,
                    scope: Scope::Read,
                }))
            }
            Ok(TokenOwner::Project(project_id)) => Ok(Some(Principal::BuildAgent { project_id, token_id })),
            Ok(_) | Err(DbError::NotFound) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Forgets sign-in counts of windows that ended before `before` (the sweeper).
    pub async fn forget_sign_in_windows(&self, before: i64) -> ServiceResult<()> {
        self.limits.forget_rate_windows(before).await?;
        Ok(())
    }

    /// Whether anyone can sign in yet: a new installation has no user.
    pub async fn any_user(&self) -> ServiceResult<bool> {
        Ok(self.db.any_user().await?)
    }

    pub async fn add_user(&self, username: &str, password: &str, admin: bool) -> ServiceResult<UserId> {
        check_username(username)?;
        check_password(password)?;
        let hash = hash_password(password)?;
        match self.db.insert_user(username, &hash, admin).await {
            Err(DbError::Conflict) => Err(ServiceError::Conflict(format!("User `{username}` already exists"))),
            other => Ok(other?),
        }
    }

    /// Whether a user has a password (one made at a provider sign-in has none).
    pub async fn has_password(&self, id: UserId) -> ServiceResult<bool> {
        Ok(!self.db.user_by_id(id).await?.password_hash.is_empty())
    }

    /// A user by name; a missing one is named.
    pub async fn user(&self, username: &str) -> ServiceResult<User> {
        match self.db.user_by_name(username).await {
            Ok(u) => Ok(u),
            Err(DbError::NotFound) => Err(ServiceError::NotFound(format!("No user named `{username}`"))),
            Err(e) => Err(e.into()),
        }
    }

    /// A personal API token for a user: shown once (only its hash is kept).
    pub async fn create_user_token(&self, user_id: UserId, terms: &TokenTerms) -> ServiceResult<NewToken> {
        if terms.label.chars().count() > 100 || terms.label.chars().any(char::is_control) {
            return Err(ServiceError::BadRequest("A token's name is at most 100 printable characters".into()));
        }
        let token = new_token();
        let id = self.db.insert_token(&hash_token(&token), TokenOwner::User(user_id), terms).await?;
        Ok(NewToken { id, token })
    }

    pub async fn create_build_token(&self, slug: &ProjectSlug) -> ServiceResult<NewToken> {
        let project = self.projects.project_for_admin(slug).await?;
        self.create_project_token(project.id, &TokenTerms::plain()).await
    }

    /// A build token of a project: starts builds and stores artifacts for it alone.
    pub async fn create_project_token(&self, project_id: ProjectId, terms: &TokenTerms) -> ServiceResult<NewToken> {
        let token = new_token();
        let id = self.db.insert_token(&hash_token(&token), TokenOwner::Project(project_id), terms).await?;
        Ok(NewToken { id, token })
    }

    /// A token for the processes of a running build: adds artifacts to that build only, and
    /// only while it runs.
    pub async fn create_build_node_token(&self, project_id: ProjectId, build_id: BuildId) -> ServiceResult<String> {
        let token = new_token();
        self.db
            .insert_token(&hash_token(&token), TokenOwner::Build { project_id, build_id }, &TokenTerms::plain())
            .await?;
        Ok(token)
    }

    pub async fn revoke_token(&self, token: &str) -> ServiceResult<()> {
        match self.db.delete_token(&hash_token(token.trim())).await {
            Err(DbError::NotFound) => Err(ServiceError::NotFound("No such token (it may be revoked already)".into())),
            other => Ok(other?),
        }
    }

    /// Tokens, oldest first: all of them, a user's (`alice`) or a project's (`gh/acme/widgets`).
    pub async fn tokens(&self, owner: Option<&str>) -> ServiceResult<Vec<vitrine_store::TokenInfo>> {
        let (user, project) = match owner {
            None => (None, None),
            Some(o) if o.contains('/') => {
                let slug: ProjectSlug = o.parse()?;
                (None, Some(self.projects.project_for_admin(&slug).await?.id))
            }
            Some(name) => (Some(self.user(name).await?.id), None),
        };
        Ok(self.db.tokens(user, project).await?)
    }

    /// Revokes a token by its id (from `token list`).
    pub async fn revoke_token_by_id(&self, id: TokenId) -> ServiceResult<()> {
        match self.db.delete_token_by_id(id).await {
            Err(DbError::NotFound) => {
                Err(ServiceError::NotFound(format!("No token with id {id} (see `admin token list`)")))
            }
            other => {
                other?;
                self.lookups.tokens.clear();
                Ok(())
            }
        }
    }

    /// Tokens of one owner, oldest first: a user's personal tokens, or a project's build
    /// tokens (and its running builds' own ones).
    pub async fn tokens_of(&self, owner: TokenOwner) -> ServiceResult<Vec<vitrine_store::TokenInfo>> {
        Ok(match owner {
            TokenOwner::User(id) => self.db.tokens(Some(id), None).await?,
            TokenOwner::Project(id) | TokenOwner::Build { project_id: id, .. } => {
                self.db.tokens(None, Some(id)).await?
            }
        })
    }

    /// Revokes token `id` if `owner` owns it; another owner's token is as missing as one that
    /// never was.
    pub async fn revoke_token_of(&self, owner: TokenOwner, id: TokenId) -> ServiceResult<()> {
        let owned = match self.db.token_by_id(id).await {
            Ok(TokenOwner::Build { project_id, .. }) => owner == TokenOwner::Project(project_id),
            Ok(found) => found == owner,
            Err(DbError::NotFound) => false,
            Err(e) => return Err(e.into()),
        };
        if !owned {
            return Err(ServiceError::NotFound("No such token: it may be revoked already".into()));
        }
        self.revoke_token_by_id(id).await
    }

    /// Every user, by name (the admin page).
    pub async fn users(&self) -> ServiceResult<Vec<vitrine_store::UserSummary>> {
        Ok(self.db.users().await?)
    }

    /// Makes a user an instance admin, or no longer one. The last enabled admin stays one:
    /// someone must be able to make the next.
    pub async fn set_admin(&self, username: &str, admin: bool) -> ServiceResult<()> {
        let user = self.user(username).await?;
        if !admin {
            self.last_admin_stays(&user).await?;
        }
        self.db.set_user_admin(user.id, admin).await?;
        self.forget_principals();
        Ok(())
    }

    /// Changes a user's own password, given the current one; their other sessions end.
    pub async fn change_password(
        &self,
        user_id: UserId,
        current: &str,
        new: &str,
        session: Option<&str>,
    ) -> ServiceResult<()> {
        let user = self.db.user_by_id(user_id).await?;
        // A wrong current password counts as a failed sign-in of the account: a session left
        // open cannot be used to guess the password faster than the sign-in form allows.
        let key = format!("sign-in:account:{}", user.username);
        let now = chrono::Utc::now().timestamp();
        let window_after = now - SIGN_IN_WINDOW;
        if let Some(window) = self.limits.rate_counts(&[key.as_str()], window_after).await?.get(&key)
            && window.count >= SIGN_IN_FAILURES_PER_ACCOUNT
        {
            return Err(ServiceError::TooManyRequests {
                message: "Too many wrong passwords; try again later".into(),
                retry_after: (window.started + SIGN_IN_WINDOW - now).max(1) as u64,
            });
        }
        if !self.passwords.matches(current, &user.password_hash).await? {
            self.limits.rate_hit(&key, window_after).await?;
            return Err(ServiceError::BadRequest("The current password is not right".into()));
        }
        check_password(new)?;
        self.db.set_password_hash(user_id, &hash_password(new)?).await?;
        self.db.delete_other_sessions(user_id, &session.map(hash_token).unwrap_or_default()).await?;
        self.forget_principals();
        Ok(())
    }

    /// A user's sessions that have not expired, newest first, `session` marked as the current one.
    pub async fn sessions(&self, user_id: UserId, session: Option<&str>) -> ServiceResult<Vec<SessionInfo>> {
        Ok(self.db.user_sessions(user_id, &session.map(hash_token).unwrap_or_default()).await?)
    }

    /// Ends every session of a user but `session` (sign out everywhere else); answers how many.
    pub async fn sign_out_others(&self, user_id: UserId, session: Option<&str>) -> ServiceResult<u64> {
        let ended = self.db.delete_other_sessions(user_id, &session.map(hash_token).unwrap_or_default()).await?;
        self.forget_principals();
        Ok(ended)
    }

    /// Refuses to take the last enabled admin away (demoting or disabling them): someone must
    /// be able to make the next.
    async fn last_admin_stays(&self, user: &User) -> ServiceResult<()> {
        if user.admin && !user.disabled && self.db.admin_count().await? <= 1 {
            return Err(ServiceError::Conflict(format!(
                "{} is the last admin: make someone else an admin first",
                user.username
            )));
        }
        Ok(())
    }

    /// This server forgets whom tokens and sessions belonged to, and who is a member of what
    /// (others within [`super::lookups::FRESH_FOR`]).
    pub fn forget_principals(&self) {
        self.lookups.tokens.clear();
        self.lookups.sessions.clear();
        self.lookups.members.clear();
    }

    /// A disabled user cannot sign in, and their sessions and tokens stop working at once;
    /// enabling brings the tokens back (sessions stay ended).
    pub async fn set_user_disabled(&self, username: &str, disabled: bool) -> ServiceResult<()> {
        let user = self.user(username).await?;
        if disabled {
            self.last_admin_stays(&user).await?;
        }
        self.db.set_user_disabled(user.id, disabled).await?;
        if disabled {
            self.db.delete_user_sessions(user.id).await?;
        }
        self.forget_principals();
        Ok(())
    }

    /// Ends every browser session of a user (a lost laptop); answers how many.
    pub async fn revoke_sessions(&self, username: &str) -> ServiceResult<u64> {
        let id = self.user(username).await?.id;
        let ended = self.db.delete_user_sessions(id).await?;
        self.forget_principals();
        Ok(ended)
    }

    /// The principal behind an API token; an unknown token is an error, not anonymity. A
    /// token that worked is trusted for [`super::lookups::FRESH_FOR`] without asking again.
    pub async fn principal_for_token(&self, token: &str) -> ServiceResult<Principal> {
        let hash = hash_token(token);
        if let Some(known) = self.lookups.tokens.get(&hash) {
            return Ok(known);
        }
        let (principal, expires_at) = self.token_principal(&hash).await?;
        // A token about to expire is asked for again each time, so it stops on time.
        let now = chrono::Utc::now().timestamp();
        if expires_at.is_none_or(|end| end > now + super::lookups::FRESH_FOR.as_secs() as i64) {
            self.lookups.tokens.keep(hash, principal.clone());
        }
        Ok(principal)
    }

    /// The principal behind a token's hash, and when the token ends.
    async fn token_principal(&self, hash: &str) -> ServiceResult<(Principal, Option<i64>)> {
        let found = self.db.token_owner(hash).await;
        // When a token was last used, to a minute: one write a minute, not per request.
        if let Ok(f) = &found
            && f.last_used_at.is_none_or(|t| t < chrono::Utc::now().timestamp() - 60)
        {
            self.db.touch_token(hash).await?;
        }
        let now = chrono::Utc::now().timestamp();
        if let Ok(TokenFound { expires_at: Some(end), .. }) = found
            && end <= now
        {
            return Err(ServiceError::Unauthorized(format!(
                "This token expired on {}: create a new one on your account page (/account)",
                chrono::DateTime::from_timestamp(end, 0)
                    .map_or(String::new(), |d| d.format("%Y-%m-%d %H:%M UTC").to_string())
            )));
        }
        let found = match found {
            Ok(found) => found,
            Err(DbError::NotFound) => return Err(ServiceError::Unauthorized("Invalid token provided.".into())),
            Err(e) => return Err(e.into()),
        };
        let principal = match found.owner {
            TokenOwner::User(id) => {
                let user = self.db.user_by_id(id).await?;
                let (username, admin, scope) = (user.username, user.admin, found.scope);
                Principal::User { id, username, token_id: Some(found.id), admin, scope }
            }
            TokenOwner::Project(project_id) => Principal::BuildAgent { project_id, token_id: found.id },
            TokenOwner::Build { project_id, build_id } => Principal::BuildNode { project_id, build_id },
        };
        Ok((principal, found.expires_at))
    }

    /// The user of a browser session; a stale or unknown session is simply anonymous. With
    /// `recheck_after`, a session a provider vouched for longer ago than that is answered
    /// as due (`true`) and not kept: the caller asks the provider again.
    pub async fn principal_for_session(
        &self,
        session: &str,
        recheck_after: Option<Duration>,
    ) -> ServiceResult<(Principal, bool)> {
        let hash = hash_token(session);
        if let Some(known) = self.lookups.sessions.get(&hash) {
            return Ok((known, false));
        }
        match self.db.session_user(&hash).await {
            Ok(owner) => {
                let user = self.db.user_by_id(owner.user_id).await?;
                let principal = Principal::User {
                    id: owner.user_id,
                    username: user.username,
                    token_id: None,
                    admin: user.admin,
                    scope: Scope::Admin,
                };
                let now = chrono::Utc::now().timestamp();
                let due = owner
                    .checked_at
                    .zip(recheck_after)
                    .is_some_and(|(checked, after)| checked + after.as_secs() as i64 <= now);
                if !due {
                    self.lookups.sessions.keep(hash, principal.clone());
                }
                Ok((principal, due))
            }
            Err(DbError::NotFound) => Ok((Principal::Anonymous, false)),
            Err(e) => Err(e.into()),
        }
    }

    /// Opens a session for a user who proved who they are; returns its token for the cookie.
    pub async fn open_session(&self, user_id: UserId, agent: &str) -> ServiceResult<String> {
        let token = new_token();
        let expires = chrono::Utc::now().timestamp() + SESSION_DAYS * 86_400;
        let agent: String = agent.chars().filter(|c| !c.is_control()).take(300).collect();
        self.db.insert_session(&hash_token(&token), user_id, expires, &agent).await?;
        Ok(token)
    }

    /// A new user without a password (they sign in through a provider), named `wanted` made
    /// valid and unique: `alice`, else `alice-2`, `alice-3`, ...
    pub async fn add_user_named_like(&self, wanted: &str) -> ServiceResult<(UserId, String)> {
        let base = username_like(wanted);
        for n in 1..=1000 {
            let name = if n == 1 { base.clone() } else { format!("{base}-{n}") };
            match self.db.insert_user(&name, "", false).await {
                Ok(id) => return Ok((id, name)),
                Err(DbError::Conflict) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Err(ServiceError::Conflict(format!("No free username like `{base}`: add the user by hand and link them")))
    }

    /// Checks a password and opens a session; returns the session token for the cookie.
    /// Attempts are counted per account and per client address (in the metadata store, so
    /// every server counts together) before the password is checked, so attempts in flight
    /// at once cannot slip past the limits; an attempt that succeeds is taken back, so only
    /// failures add up. Past the limits, sign-ins are refused until the window ends.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        client: Option<IpAddr>,
        agent: &str,
    ) -> ServiceResult<String> {
        let username = username.trim();
        let now = chrono::Utc::now().timestamp();
        let window_after = now - SIGN_IN_WINDOW;
        let account = format!("sign-in:account:{username}");
        let address = client.map(address_key);
        let limited: Vec<(&str, i64)> = std::iter::once((account.as_str(), SIGN_IN_FAILURES_PER_ACCOUNT))
            .chain(address.as_deref().map(|a| (a, SIGN_IN_FAILURES_PER_ADDRESS)))
            .collect();
        let keys: Vec<&str> = limited.iter().map(|(k, _)| *k).collect();
        let too_many = |started: i64| too_many_failed_sign_ins(started, now);
        // Refused at the cost of one read while a limit is reached.
        let counts = self.limits.rate_counts(&keys, window_after).await?;
        for (key, limit) in &limited {
            if let Some(window) = counts.get(*key)
                && window.count >= *limit
            {
                return Err(too_many(window.started));
            }
        }
        for (key, limit) in &limited {
            let window = self.limits.rate_hit(key, window_after).await?;
            if window.count > *limit {
                return Err(too_many(window.started));
            }
        }
        let user = match self.db.user_by_name(username).await {
            Ok(u) => Some(u),
            Err(DbError::NotFound) => None,
            Err(e) => return Err(e.into()),
        };
        // An unknown user costs the same check, so timing does not tell which usernames exist.
        let hash = user.as_ref().map_or(DUMMY_HASH, |u| u.password_hash.as_str());
        let matches = match self.passwords.matches(password, hash).await {
            Ok(matches) => matches,
            Err(e) => {
                // Not checked (the server is busy): not a failed attempt.
                for key in &keys {
                    self.limits.rate_release(key).await?;
                }
                return Err(e);
            }
        };
        // A disabled account cannot sign in; it is told no more than a wrong password is.
        let Some(user) = user.filter(|u| matches && !u.disabled) else {
            return Err(ServiceError::Unauthorized("Wrong username or password".into()));
        };
        for key in &keys {
            self.limits.rate_release(key).await?;
        }
        self.open_session(user.id, agent).await
    }

    /// Ends a session: on this server at once, on others within [`super::lookups::FRESH_FOR`].
    pub async fn logout(&self, session: &str) -> ServiceResult<()> {
        let hash = hash_token(session);
        self.lookups.sessions.forget(&hash);
        Ok(self.db.delete_session(&hash).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_look_like_circleci_ones() {
        let t = new_token();
        assert_eq!(t.len(), 40);
        assert!(t.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(hash_token(&t), t);
        // The stored form: SHA-256 in lowercase hex (stores written before keep working).
        assert_eq!(hash_token("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn names_from_providers_become_valid_usernames() {
        assert_eq!(username_like("alice"), "alice");
        assert_eq!(username_like("Alice Smith"), "Alice-Smith");
        assert_eq!(username_like("bob@example.com"), "bob");
        assert_eq!(username_like("ünïcode"), "n-code");
        assert_eq!(username_like("@@"), "user");
        assert_eq!(username_like(&"x".repeat(100)).len(), 60);
        assert!(check_username(&username_like("../../etc")).is_ok());
    }
}
