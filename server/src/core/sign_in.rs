//! Sign-in through OpenID Connect providers, and the sessions it opens: a sign-in's start and
//! return (`state`, `nonce` and the PKCE verifier kept in the store under the hash of a cookie,
//! used once, for ten minutes), who the person is (their issuer and subject, never their
//! email), the roles their groups give, the provider asked again when a session's word is old,
//! and sign-out at the provider. The protocol itself is `crate::identity`'s.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use subtle::ConstantTimeEq;

use super::accounts::{
    Accounts, SIGN_IN_FAILURES_PER_ADDRESS, SIGN_IN_WINDOW, address_key, hash_token, limit_reached, new_token,
    too_many_failed_sign_ins,
};
use super::audit::{AuditAction, AuditLog, event_by};
use super::error::{ServiceError, ServiceResult};
use super::principal::Principal;
use crate::identity::{IdentityError, Provider, Providers, Vouched};
use vitrine_store::{
    AccountStore, Db, DbError, GroupRole, Identity, IdentityStore, PendingSignIn, Project, RateLimitStore, Role,
    SessionIdentity, UserId,
};

/// A sign-in must come back from the provider within this long.
pub const SIGN_IN_LIFETIME: i64 = 10 * 60;
/// Sign-ins an address may start per sign-in window (each keeps a row until it comes back or
/// its lifetime ends).
const SIGN_IN_STARTS_PER_ADDRESS: i64 = 200;
/// A session whose provider did not answer its re-check is asked again after this long (in
/// seconds); until then it keeps what it had.
const RECHECK_RETRY: i64 = 5 * 60;

/// A sign-in sent to a provider: where the browser goes, and the cookie that brings it back.
#[derive(Debug)]
pub struct Started {
    pub provider_url: String,
    pub cookie: String,
}

/// What the browser brought back from the provider (the callback's query).
#[derive(Debug, Default)]
pub struct Returned {
    pub state: Option<String>,
    pub code: Option<String>,
    /// The provider's own refusal (`access_denied`, ...), and its words.
    pub error: Option<String>,
    pub error_description: Option<String>,
    /// The issuer the provider names (RFC 9207): when given, it must be the one asked.
    pub iss: Option<String>,
}

/// Who is signing in, for limits, the audit log and their session list.
#[derive(Debug, Clone, Copy)]
pub struct Client<'a> {
    pub address: Option<IpAddr>,
    pub agent: &'a str,
}

/// A sign-in that went through: the session for the cookie, and where to go.
#[derive(Debug)]
pub struct SignedIn {
    pub session: String,
    pub next: String,
    pub username: String,
}

/// Sign-in through providers, and sessions' re-checks.
#[derive(Clone)]
pub struct SignIn {
    db: Arc<dyn IdentityStore>,
    users: Arc<dyn AccountStore>,
    limits: Arc<dyn RateLimitStore>,
    providers: Providers,
    accounts: Accounts,
    audit: AuditLog,
    /// Sessions being checked with their provider now, by hash: one check at a time each.
    rechecks: Arc<std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
}

impl SignIn {
    pub fn new(db: &Db, providers: Providers, accounts: Accounts, audit: AuditLog) -> SignIn {
        SignIn {
            db: db.identity_store(),
            users: db.account_store(),
            limits: db.rate_limit_store(),
            providers,
            accounts,
            audit,
            rechecks: Arc::default(),
        }
    }

    /// The providers, in the sign-in page's order.
    pub fn providers(&self) -> &[Arc<Provider>] {
        self.providers.all()
    }

    /// Whether the password form is offered (not with `--oidc-only`).
    pub fn passwords_allowed(&self) -> bool {
        !self.providers.settings.only || self.providers.all().is_empty()
    }

    /// Signs in with a password (see [`Accounts::login`]), unless only providers are allowed.
    pub async fn with_password(&self, username: &str, password: &str, client: Client<'_>) -> ServiceResult<String> {
        if !self.passwords_allowed() {
            return Err(ServiceError::Forbidden(
                "This server signs people in through their identity provider only".into(),
            ));
        }
        self.accounts.login(username, password, client.address, client.agent).await
    }

    /// Starts a sign-in at provider `index`: where to send the browser, and the cookie that
    /// ties its return to this browser.
    pub async fn start(&self, index: usize, next: &str, address: Option<IpAddr>) -> ServiceResult<Started> {
        let provider =
            self.providers.at(index).ok_or_else(|| ServiceError::NotFound("No such identity provider".into()))?;
        // Each start keeps a row for ten minutes: an address starts a bounded number.
        if let Some(ip) = address {
            let now = chrono::Utc::now().timestamp();
            let key = format!("sign-in:start:{}", address_key(ip));
            let window = self.limits.rate_hit(&key, now - SIGN_IN_WINDOW).await?;
            if window.count > SIGN_IN_STARTS_PER_ADDRESS {
                let message = "Too many sign-ins started from here; try again later";
                return Err(limit_reached("sign_in_starts", message, window.started, now));
            }
        }
        let begun = provider.begin().await.map_err(|e| unreachable(provider, &e))?;
        let cookie = new_token();
        let pending = PendingSignIn {
            issuer: provider.issuer.clone(),
            state: begun.state,
            nonce: begun.nonce,
            pkce_verifier: begun.pkce_verifier,
            next: next.to_owned(),
            created_at: chrono::Utc::now().timestamp(),
        };
        self.db.insert_sign_in(&hash_token(&cookie), &pending).await?;
        Ok(Started { provider_url: begun.url, cookie })
    }

    /// Finishes a sign-in the browser brought back: checks it against what its start kept
    /// (once: a replay finds nothing), trades the code, checks the ID token, finds or makes
    /// the user, gives their groups' roles and opens a session. A refusal is audited and
    /// counts as a failed sign-in of the client's address.
    pub async fn finish(
        &self,
        cookie: Option<&str>,
        returned: &Returned,
        client: Client<'_>,
    ) -> ServiceResult<SignedIn> {
        let now = chrono::Utc::now().timestamp();
        let address = client.address.map(address_key);
        if let Some(key) = &address
            && let Some(window) = self.limits.rate_counts(&[key.as_str()], now - SIGN_IN_WINDOW).await?.get(key)
            && window.count >= SIGN_IN_FAILURES_PER_ADDRESS
        {
            return Err(too_many_failed_sign_ins(window.started, now));
        }
        match self.checked(cookie, returned, client).await {
            Ok(done) => {
                metrics::counter!(crate::observe::SIGN_INS, "outcome" => "signed-in").increment(1);
                Ok(done)
            }
            Err((reason, error)) => {
                let outcome = reason.split(' ').next().unwrap_or_default().to_owned();
                metrics::counter!(crate::observe::SIGN_INS, "outcome" => outcome).increment(1);
                // A return with no pending sign-in's cookie costs nothing to refuse; every
                // other refusal counts as a failed sign-in of the address.
                if let Some(key) = address.as_ref().filter(|_| reason != "no-cookie") {
                    self.limits.rate_hit(key, now - SIGN_IN_WINDOW).await?;
                }
                let mut event = event_by(&Principal::Anonymous, AuditAction::SignInRefused);
                event.detail = reason;
                event.client = client.address.map(|a| a.to_string());
                self.audit.record(event);
                Err(error)
            }
        }
    }

    /// [`Self::finish`] but the limits and the audit: a refusal comes with its reason.
    async fn checked(
        &self,
        cookie: Option<&str>,
        returned: &Returned,
        client: Client<'_>,
    ) -> Result<SignedIn, (String, ServiceError)> {
        let expired = || {
            ServiceError::BadRequest(
                "This sign-in is not one this browser started, or it was used already or took longer than ten \
                 minutes: sign in again"
                    .into(),
            )
        };
        let cookie = cookie.ok_or_else(|| ("no-cookie".to_owned(), expired()))?;
        let pending = match self.db.take_sign_in(&hash_token(cookie)).await {
            Ok(p) => p,
            Err(DbError::NotFound) => return Err(("unknown-or-replayed".into(), expired())),
            Err(e) => return Err(("store".into(), e.into())),
        };
        if pending.created_at + SIGN_IN_LIFETIME < chrono::Utc::now().timestamp() {
            return Err(("too-late".into(), expired()));
        }
        let state = returned.state.as_deref().unwrap_or_default();
        if !bool::from(state.as_bytes().ct_eq(pending.state.as_bytes())) {
            return Err(("wrong-state".into(), expired()));
        }
        let provider =
            self.providers.by_issuer(&pending.issuer).ok_or_else(|| ("unknown-provider".into(), expired()))?;
        // A return naming another issuer is a mix-up (RFC 9700 4.4): its code is not traded.
        if returned.iss.as_deref().is_some_and(|iss| iss != provider.issuer) {
            return Err(("mix-up".into(), expired()));
        }
        if let Some(error) = &returned.error {
            let words: String = returned.error_description.as_deref().unwrap_or(error).chars().take(200).collect();
            let message = format!("{} did not sign you in: {}", provider.name, words.replace(char::is_control, " "));
            return Err((
                format!("provider-error {}", error.chars().take(64).collect::<String>()),
                ServiceError::Unauthorized(message),
            ));
        }
        let code = returned.code.as_deref().filter(|c| !c.is_empty()).ok_or_else(|| ("no-code".into(), expired()))?;
        let vouched = provider
            .finish(code, &pending.pkce_verifier, &pending.nonce, &self.wanted())
            .await
            .map_err(|e| refusal(provider, &e))?;
        let (user_id, username) = self.person(provider, &vouched).await.map_err(|e| ("user".into(), e))?;
        let session = self.accounts.open_session(user_id, client.agent).await.map_err(|e| ("store".into(), e))?;
        let record = SessionIdentity {
            issuer: provider.issuer.clone(),
            subject: vouched.subject.clone(),
            checked_at: chrono::Utc::now().timestamp(),
            refresh_token: vouched.refresh_token.clone(),
            id_token: vouched.id_token.clone(),
        };
        self.db.set_session_identity(&hash_token(&session), &record).await.map_err(|e| ("store".into(), e.into()))?;
        let who = Principal::User {
            id: user_id,
            username: username.clone(),
            token_id: None,
            admin: false,
            scope: vitrine_store::Scope::Admin,
        };
        let mut event = event_by(&who, AuditAction::SignIn);
        event.detail = format!("through {} ({})", provider.name, groups_text(vouched.groups.as_deref()));
        event.client = client.address.map(|a| a.to_string());
        self.audit.record(event);
        Ok(SignedIn { session, next: pending.next, username })
    }

    fn wanted(&self) -> crate::identity::claims::Wanted<'_> {
        crate::identity::claims::Wanted {
            username: &self.providers.settings.username_claim,
            groups: self.providers.settings.groups_claim.as_deref(),
        }
    }

    /// The user an identity belongs to (made at its first sign-in), who must be enabled; their
    /// groups' roles given and taken.
    async fn person(&self, provider: &Provider, vouched: &Vouched) -> ServiceResult<(UserId, String)> {
        let (user_id, username) = match self.db.identity_user(&provider.issuer, &vouched.subject).await {
            Ok(id) => {
                let user = self.users.user_by_id(id).await?;
                if user.disabled {
                    return Err(ServiceError::Forbidden(format!(
                        "The account {} is disabled on this server: ask an admin",
                        user.username
                    )));
                }
                (id, user.username)
            }
            Err(DbError::NotFound) => {
                let wanted = vouched.username.as_deref().or(vouched.email.as_deref()).unwrap_or("user");
                let (id, name) = self.accounts.add_user_named_like(wanted).await?;
                let mut event = event_by(&Principal::Anonymous, AuditAction::UserAdd);
                event.detail = format!("{name}, at their first sign-in through {}", provider.name);
                self.audit.record(event);
                (id, name)
            }
            Err(e) => return Err(e.into()),
        };
        self.db.link_identity(&provider.issuer, &vouched.subject, user_id, true).await?;
        self.give_group_roles(user_id, vouched.groups.as_deref()).await?;
        Ok((user_id, username))
    }

    /// The roles a person's groups give, replacing what their groups gave before; nothing
    /// when no groups claim is configured. Grants by hand stay.
    async fn give_group_roles(&self, user_id: UserId, groups: Option<&[String]>) -> ServiceResult<()> {
        let Some(groups) = groups else { return Ok(()) };
        let roles: Vec<GroupRole> =
            self.db.group_roles().await?.into_iter().filter(|r| groups.contains(&r.group)).collect();
        self.db.sync_group_grants(user_id, &roles).await?;
        if let Some(admins) = &self.providers.settings.admin_group {
            self.db.set_admin_by_group(user_id, groups.contains(admins)).await?;
        }
        self.accounts.forget_principals();
        Ok(())
    }

    /// The principal of a browser session. A session a provider vouched for longer ago than
    /// the re-check time is checked again first: with its refresh token, the provider says who
    /// the person is now and which groups they are in; without one, or when the provider says
    /// no, the session ends. A provider that does not answer leaves the session as it was
    /// until the next request asks again.
    pub async fn principal_for_session(&self, session: &str) -> ServiceResult<Principal> {
        let recheck = Some(self.providers.settings.recheck_after);
        let (principal, due) = self.accounts.principal_for_session(session, recheck).await?;
        if !due {
            return Ok(principal);
        }
        // One re-check per session at a time on this server: a page's requests arrive
        // together, and a refresh token used twice at once may be taken as stolen (and the
        // whole grant revoked) by providers that rotate them. The others wait and find it done.
        let hash = hash_token(session);
        let lock = self
            .rechecks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(hash.clone())
            .or_default()
            .clone();
        let _turn = lock.lock().await;
        let (principal, due) = self.accounts.principal_for_session(session, recheck).await?;
        if !due {
            self.rechecks.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&hash);
            return Ok(principal);
        }
        let outcome = self.recheck(session).await;
        self.rechecks.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&hash);
        let counted = match &outcome {
            Ok(()) => "kept",
            Err(Some(_)) => "ended",
            Err(None) => "unanswered",
        };
        metrics::counter!(crate::observe::RECHECKS, "outcome" => counted).increment(1);
        match outcome {
            Ok(()) => Ok(self.accounts.principal_for_session(session, None).await?.0),
            Err(Some(reason)) => {
                let mut event = event_by(&principal, AuditAction::SessionEnd);
                event.detail = reason;
                self.audit.record(event);
                self.accounts.logout(session).await?;
                Ok(Principal::Anonymous)
            }
            Err(None) => Ok(principal),
        }
    }

    /// Asks the provider again about a session's person. `Err(Some(reason))`: the session
    /// must end; `Err(None)`: the provider could not be asked now.
    async fn recheck(&self, session: &str) -> Result<(), Option<String>> {
        let hash = hash_token(session);
        let found = self.db.session_identity(&hash).await.map_err(|_| None)?;
        let Some(provider) = self.providers.by_issuer(&found.issuer) else {
            return Err(Some("the provider is no longer configured".into()));
        };
        let Some(refresh) = found.refresh_token.as_deref() else {
            return Err(Some(format!("{} gave no refresh token: sign in again", provider.name)));
        };
        let vouched = match provider.refresh(refresh, &found.subject, &self.wanted()).await {
            Ok(v) => v,
            Err(IdentityError::Unreachable(detail)) => {
                tracing::warn!(provider = %provider.name, %detail, "a session's re-check could not reach its provider");
                // Asked again in a few minutes, not at every request while the provider is down.
                let retry = SessionIdentity {
                    checked_at: chrono::Utc::now().timestamp() - self.providers.settings.recheck_after.as_secs() as i64
                        + RECHECK_RETRY,
                    ..found
                };
                self.db.set_session_identity(&hash, &retry).await.map_err(|_| None)?;
                return Err(None);
            }
            Err(IdentityError::Refused { reason, detail }) => {
                tracing::info!(provider = %provider.name, reason, %detail, "a session's re-check was refused");
                return Err(Some(format!("re-check refused: {reason}")));
            }
        };
        let user_id = self
            .db
            .identity_user(&found.issuer, &found.subject)
            .await
            .map_err(|_| Some("identity unlinked".to_owned()))?;
        self.give_group_roles(user_id, vouched.groups.as_deref()).await.map_err(|_| None)?;
        let record = SessionIdentity {
            checked_at: chrono::Utc::now().timestamp(),
            refresh_token: vouched.refresh_token.or(found.refresh_token),
            id_token: vouched.id_token.or(found.id_token),
            ..found
        };
        self.db.set_session_identity(&hash, &record).await.map_err(|_| None)?;
        Ok(())
    }

    /// Ends a session; answers the provider's logout address when the session came through a
    /// provider that has one (RP-initiated logout), to end the person's session there too.
    pub async fn sign_out(&self, session: &str) -> ServiceResult<Option<String>> {
        let found = self.db.session_identity(&hash_token(session)).await.ok();
        self.accounts.logout(session).await?;
        let Some(found) = found else { return Ok(None) };
        let Some(provider) = self.providers.by_issuer(&found.issuer) else { return Ok(None) };
        Ok(provider.logout_url(found.id_token.as_deref(), &self.providers.settings.after_logout_url).await)
    }

    /// Gives an identity at a provider to an existing user (an admin's command): their next
    /// sign-in through it is theirs.
    pub async fn link(&self, username: &str, issuer: &str, subject: &str) -> ServiceResult<()> {
        let user = self.accounts.user(username).await?;
        if url::Url::parse(issuer).is_err() {
            return Err(ServiceError::BadRequest(format!(
                "`{issuer}` is not an issuer URL: give it exactly as the provider's `iss`"
            )));
        }
        if subject.is_empty() || subject.len() > 255 {
            return Err(ServiceError::BadRequest("A subject is 1 to 255 characters, as the provider gives it".into()));
        }
        self.db.link_identity(issuer, subject, user.id, false).await?;
        self.accounts.forget_principals();
        Ok(())
    }

    pub async fn unlink(&self, issuer: &str, subject: &str) -> ServiceResult<()> {
        match self.db.unlink_identity(issuer, subject).await {
            Err(DbError::NotFound) => {
                Err(ServiceError::NotFound("No such identity (see `admin user identities`)".into()))
            }
            other => Ok(other?),
        }
    }

    /// Identities, of every user or of one.
    pub async fn identities(&self, username: Option<&str>) -> ServiceResult<Vec<Identity>> {
        let user = match username {
            Some(name) => Some(self.accounts.user(name).await?.id),
            None => None,
        };
        Ok(self.db.identities(user).await?)
    }

    /// Makes a provider group's members `role` in a project (at their next sign-in or
    /// re-check; those who hold the group's grant now have the new role at once).
    pub async fn map_group(&self, project: &Project, group: &str, role: Role) -> ServiceResult<()> {
        check_group(group)?;
        self.db.map_group(project.id, group, role).await?;
        self.accounts.forget_principals();
        Ok(())
    }

    /// Stops a group giving a role in a project, and takes back what it gave.
    pub async fn unmap_group(&self, project: &Project, group: &str) -> ServiceResult<()> {
        match self.db.unmap_group(project.id, group).await {
            Err(DbError::NotFound) => {
                Err(ServiceError::NotFound(format!("The group `{group}` gives no role in {}", project.short_slug())))
            }
            other => {
                other?;
                self.accounts.forget_principals();
                Ok(())
            }
        }
    }

    /// The groups that give roles in a project.
    pub async fn group_roles(&self, project: &Project) -> ServiceResult<Vec<GroupRole>> {
        Ok(self.db.group_roles().await?.into_iter().filter(|r| r.project_id == project.id).collect())
    }

    /// Forgets sign-ins that never came back (the sweeper).
    pub async fn forget_stale_sign_ins(&self, now: i64) -> ServiceResult<()> {
        self.db.forget_sign_ins(now - SIGN_IN_LIFETIME).await?;
        Ok(())
    }
}

/// A group name as a provider sends it: 1 to 256 printable characters.
pub fn check_group(group: &str) -> ServiceResult<()> {
    if group.is_empty() || group.len() > 256 || group.chars().any(char::is_control) {
        return Err(ServiceError::BadRequest("A group name is 1 to 256 printable characters".into()));
    }
    Ok(())
}

fn groups_text(groups: Option<&[String]>) -> String {
    match groups {
        None => "no groups claim".into(),
        Some([]) => "in no group".into(),
        Some(g) => format!("groups: {}", g.iter().take(20).cloned().collect::<Vec<_>>().join(", ")),
    }
}

fn unreachable(provider: &Provider, e: &IdentityError) -> ServiceError {
    tracing::warn!(provider = %provider.name, error = %e, "an identity provider could not be used");
    ServiceError::Unavailable(format!("{} did not answer; try again in a minute", provider.name))
}

/// A provider's answer refused: the reason for the audit log, the words for the person.
fn refusal(provider: &Provider, e: &IdentityError) -> (String, ServiceError) {
    match e {
        IdentityError::Unreachable(_) => ("unreachable".into(), unreachable(provider, e)),
        IdentityError::Refused { reason, detail } => {
            tracing::info!(provider = %provider.name, reason, %detail, "a sign-in was refused");
            let words = match *reason {
                "provider-refused" => {
                    format!("{} refused this sign-in (it may have been used already): sign in again", provider.name)
                }
                "expired" => format!(
                    "The identity token from {} has expired: check this server's clock, and sign in again",
                    provider.name
                ),
                _ => format!(
                    "The identity token from {} did not pass the checks ({reason}): sign in again",
                    provider.name
                ),
            };
            ((*reason).to_owned(), ServiceError::Unauthorized(words))
        }
    }
}
