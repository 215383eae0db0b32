//! The identity providers: OpenID Connect discovery, the providers' signing keys, the
//! authorization code flow's requests (with PKCE, `state` and `nonce`), ID token checks,
//! refreshes and logout addresses. The one place that speaks to a provider, through the
//! `openidconnect` crate; the core decides who the person is and what they may do.
//!
//! What a provider sends is checked as the OpenID Connect Core spec says: the ID token's
//! signature with the provider's published keys (asymmetric algorithms only: never `none`, never
//! a MAC), its issuer, audience, authorized party, expiry (a minute of clock skew) and nonce.
//! Keys are fetched with the discovery document and again, at most every few seconds, when a
//! token names a key the server does not know (the provider rotated its keys).

pub mod claims;
mod error;

use std::sync::Arc;
use std::time::{Duration, Instant};

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreIdToken, CoreIdTokenVerifier, CoreJsonWebKeySet, CoreJwsSigningAlgorithm,
    CoreTokenResponse,
};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl,
    JsonWebKeySet, LogoutRequest, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier,
    PostLogoutRedirectUrl, ProviderMetadataWithLogout, RedirectUrl, RefreshToken, Scope, TokenResponse,
};
use openidconnect::{ClaimsVerificationError, SignatureVerificationError};
use tokio::sync::Mutex;

pub use claims::Vouched;
pub use error::IdentityError;

/// How long a session opened through a provider lasts before the provider is asked again
/// whether the person is still who they were, with the groups they had.
pub const RECHECK_AFTER: Duration = Duration::from_secs(8 * 3600);
/// A provider's discovery document is read again after this long.
const DISCOVERY_FOR: Duration = Duration::from_secs(3600);
/// Keys are fetched again for an unknown key id at most this often: a flood of tokens naming
/// made-up keys costs the provider one request per gap (and the callback's rate limit bounds
/// the flood).
const KEYS_REFETCH_GAP: Duration = Duration::from_secs(2);
/// How far the provider's clock may be ahead of ours.
const CLOCK_SKEW: chrono::TimeDelta = chrono::TimeDelta::seconds(60);
/// Each request to a provider ends after this long.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The signature algorithms accepted: the asymmetric ones. A MAC keyed by the client secret
/// proves less (anyone holding the secret can make one), and `none` proves nothing.
const ALGORITHMS: [CoreJwsSigningAlgorithm; 10] = [
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha384,
    CoreJwsSigningAlgorithm::RsaSsaPssSha512,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
    CoreJwsSigningAlgorithm::EcdsaP521Sha512,
    CoreJwsSigningAlgorithm::EdDsa,
];

type Client =
    CoreClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointMaybeSet, EndpointMaybeSet>;

/// One provider, as configured.
#[derive(Clone, Debug)]
pub struct ProviderSettings {
    /// What the sign-in page calls it: "Sign in with NAME".
    pub name: String,
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
}

/// Sign-in through identity providers, as configured.
#[derive(Clone, Debug)]
pub struct OidcSettings {
    pub providers: Vec<ProviderSettings>,
    /// No password form: people sign in through a provider only.
    pub only: bool,
    /// The claim a new user's name comes from (`preferred_username`).
    pub username_claim: String,
    /// The claim that lists a person's groups; none: groups give no roles.
    pub groups_claim: Option<String>,
    /// Members of this group are instance admins.
    pub admin_group: Option<String>,
    /// How long a provider's word holds before it is asked again.
    pub recheck_after: Duration,
    /// Scopes asked for besides `openid`.
    pub scopes: Vec<String>,
    /// `<public-url>/auth/oidc/callback`, registered at each provider.
    pub redirect_url: String,
    /// Where a provider sends the browser back after signing out (`<public-url>/login`).
    pub after_logout_url: String,
}

impl OidcSettings {
    /// No provider: sign-in with passwords only.
    pub fn none() -> OidcSettings {
        OidcSettings {
            providers: Vec::new(),
            only: false,
            username_claim: "preferred_username".into(),
            groups_claim: None,
            admin_group: None,
            recheck_after: RECHECK_AFTER,
            scopes: Vec::new(),
            redirect_url: "http://127.0.0.1/auth/oidc/callback".into(),
            after_logout_url: "http://127.0.0.1/login".into(),
        }
    }
}

/// The start of a sign-in: where to send the browser, and what its return must match.
#[derive(Debug)]
pub struct Begun {
    pub url: String,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

/// What discovery found, and when.
struct Discovered {
    metadata: ProviderMetadataWithLogout,
    at: Instant,
    keys_at: Instant,
}

/// One configured provider: its settings, and what discovery found (fetched when first
/// needed, so a provider that is down does not keep the server from starting).
pub struct Provider {
    pub name: String,
    pub issuer: String,
    client_id: ClientId,
    client_secret: ClientSecret,
    redirect: RedirectUrl,
    scopes: Vec<String>,
    http: reqwest::Client,
    discovered: Mutex<Option<Discovered>>,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider").field("name", &self.name).field("issuer", &self.issuer).finish_non_exhaustive()
    }
}

/// Every configured provider, with the settings they share.
#[derive(Clone, Debug)]
pub struct Providers {
    providers: Arc<[Arc<Provider>]>,
    pub settings: Arc<OidcSettings>,
}

impl Providers {
    /// The providers of `settings`; an issuer or redirect URL that is not a URL is an error.
    pub fn new(settings: OidcSettings) -> anyhow::Result<Providers> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("vitrine/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let redirect = RedirectUrl::new(settings.redirect_url.clone())
            .map_err(|e| anyhow::anyhow!("the sign-in callback URL {}: {e}", settings.redirect_url))?;
        let mut providers = Vec::new();
        for p in &settings.providers {
            IssuerUrl::new(p.issuer.clone()).map_err(|e| anyhow::anyhow!("--oidc-issuer {}: {e}", p.issuer))?;
            anyhow::ensure!(
                p.issuer.starts_with("https://")
                    || p.issuer.starts_with("http://127.0.0.1")
                    || p.issuer.starts_with("http://localhost"),
                "--oidc-issuer {}: an identity provider is reached over https (plain http only on this machine)",
                p.issuer
            );
            providers.push(Arc::new(Provider {
                name: p.name.clone(),
                issuer: p.issuer.clone(),
                client_id: ClientId::new(p.client_id.clone()),
                client_secret: ClientSecret::new(p.client_secret.clone()),
                redirect: redirect.clone(),
                scopes: settings.scopes.clone(),
                http: http.clone(),
                discovered: Mutex::new(None),
            }));
        }
        Ok(Providers { providers: providers.into(), settings: Arc::new(settings) })
    }

    /// No provider: sign-in with passwords only.
    pub fn none() -> Providers {
        Providers::new(OidcSettings::none()).expect("no provider to check")
    }

    pub fn all(&self) -> &[Arc<Provider>] {
        &self.providers
    }

    /// The provider at position `index` of the sign-in page.
    pub fn at(&self, index: usize) -> Option<&Arc<Provider>> {
        self.providers.get(index)
    }

    /// The provider whose issuer this is.
    pub fn by_issuer(&self, issuer: &str) -> Option<&Arc<Provider>> {
        self.providers.iter().find(|p| p.issuer == issuer)
    }
}

impl Provider {
    /// The discovery document, fetched when first needed and again after [`DISCOVERY_FOR`].
    /// With `keys_older_than`, the keys are fetched again unless they were fetched since
    /// then (another request did it), and not within [`KEYS_REFETCH_GAP`] of the last fetch
    /// (it waits for the gap to pass).
    async fn metadata(&self, keys_older_than: Option<Instant>) -> Result<ProviderMetadataWithLogout, IdentityError> {
        let mut discovered = self.discovered.lock().await;
        let stale = discovered.as_ref().is_none_or(|d| d.at.elapsed() > DISCOVERY_FOR);
        if stale {
            let issuer = IssuerUrl::new(self.issuer.clone()).map_err(|e| IdentityError::Unreachable(e.to_string()))?;
            let metadata = ProviderMetadataWithLogout::discover_async(issuer, &self.http)
                .await
                .map_err(|e| IdentityError::Unreachable(format!("discovery at {}: {}", self.issuer, chain(&e))))?;
            let now = Instant::now();
            *discovered = Some(Discovered { metadata, at: now, keys_at: now });
        } else if let Some(d) = discovered.as_mut().filter(|d| keys_older_than.is_some_and(|t| d.keys_at <= t)) {
            tokio::time::sleep(KEYS_REFETCH_GAP.saturating_sub(d.keys_at.elapsed())).await;
            let keys: CoreJsonWebKeySet = JsonWebKeySet::fetch_async(d.metadata.jwks_uri(), &self.http)
                .await
                .map_err(|e| IdentityError::Unreachable(format!("keys of {}: {}", self.issuer, chain(&e))))?;
            d.metadata = d.metadata.clone().set_jwks(keys);
            d.keys_at = Instant::now();
        }
        Ok(discovered.as_ref().expect("discovered above").metadata.clone())
    }

    fn client(&self, metadata: ProviderMetadataWithLogout) -> Client {
        CoreClient::from_provider_metadata(metadata, self.client_id.clone(), Some(self.client_secret.clone()))
            .set_redirect_uri(self.redirect.clone())
    }

    /// Where to send the browser to sign in, with a fresh `state`, `nonce` and PKCE verifier.
    pub async fn begin(&self) -> Result<Begun, IdentityError> {
        let client = self.client(self.metadata(None).await?);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
            .set_pkce_challenge(challenge);
        for scope in &self.scopes {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, state, nonce) = request.url();
        Ok(Begun {
            url: url.to_string(),
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        })
    }

    /// Trades the code the browser brought back for tokens, and checks the ID token.
    pub async fn finish(
        &self,
        code: &str,
        pkce_verifier: &str,
        nonce: &str,
        claims: &claims::Wanted<'_>,
    ) -> Result<Vouched, IdentityError> {
        let client = self.client(self.metadata(None).await?);
        let request = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| IdentityError::Unreachable(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()));
        let tokens = request.request_async(&self.http).await.map_err(token_error)?;
        let nonce = Nonce::new(nonce.to_owned());
        self.vouched(&tokens, &|n: Option<&Nonce>| check_nonce(n, &nonce), None, claims).await
    }

    /// Asks the provider again with a refresh token: the person's claims as they are now. The
    /// new ID token (or the user info, when the provider sends none) must be the same person's.
    pub async fn refresh(
        &self,
        refresh_token: &str,
        subject: &str,
        claims: &claims::Wanted<'_>,
    ) -> Result<Vouched, IdentityError> {
        let client = self.client(self.metadata(None).await?);
        let refresh = RefreshToken::new(refresh_token.to_owned());
        let tokens = client
            .exchange_refresh_token(&refresh)
            .map_err(|e| IdentityError::Unreachable(e.to_string()))?
            .request_async(&self.http)
            .await
            .map_err(token_error)?;
        // A refreshed ID token carries the first nonce, or none (OpenID Connect Core 12.2).
        let mut vouched = self.vouched(&tokens, &|_: Option<&Nonce>| Ok(()), Some(subject), claims).await?;
        vouched.refresh_token.get_or_insert_with(|| refresh_token.to_owned());
        Ok(vouched)
    }

    /// The ID token of a token response checked (its keys fetched again once if it names an
    /// unknown one), and the person's claims, completed from the user info endpoint when the
    /// ID token lacks the ones wanted.
    async fn vouched(
        &self,
        tokens: &CoreTokenResponse,
        nonce: &(dyn Fn(Option<&Nonce>) -> Result<(), String> + Sync),
        subject: Option<&str>,
        wanted: &claims::Wanted<'_>,
    ) -> Result<Vouched, IdentityError> {
        let refresh_token = tokens.refresh_token().map(|t| t.secret().clone());
        let access_token = tokens.access_token().secret().clone();
        let Some(id_token) = tokens.id_token() else {
            // A refresh may come without an ID token: the user info says who it is.
            let subject =
                subject.ok_or_else(|| IdentityError::refused("no-id-token", "the token response has no ID token"))?;
            let info = claims::user_info(&self.http, &self.metadata(None).await?, &access_token, subject).await?;
            return claims::vouched(subject, &info, None, wanted, refresh_token, None);
        };
        let checked_at = Instant::now();
        let payload = match self.verify(id_token, nonce, None).await {
            Err(IdentityError::Refused { reason: "unknown-key", .. }) => {
                self.verify(id_token, nonce, Some(checked_at)).await?
            }
            other => other?,
        };
        let sub = payload.get("sub").and_then(|s| s.as_str()).unwrap_or_default().to_owned();
        if subject.is_some_and(|s| s != sub) {
            return Err(IdentityError::refused("wrong-subject", "the refreshed ID token is another person's"));
        }
        let info = if wanted.missing_from(&payload) {
            let metadata = self.metadata(None).await?;
            match claims::user_info(&self.http, &metadata, &access_token, &sub).await {
                Ok(info) => Some(info),
                Err(IdentityError::Refused { reason: "no-user-info", .. }) => None,
                Err(e) => return Err(e),
            }
        } else {
            None
        };
        claims::vouched(&sub, &payload, info.as_ref(), wanted, refresh_token, Some(id_token.to_string()))
    }

    /// Checks an ID token against the provider's keys (fetched again first when they are
    /// older than `keys_older_than`); answers its claims.
    async fn verify(
        &self,
        id_token: &CoreIdToken,
        nonce: &(dyn Fn(Option<&Nonce>) -> Result<(), String> + Sync),
        keys_older_than: Option<Instant>,
    ) -> Result<serde_json::Map<String, serde_json::Value>, IdentityError> {
        let metadata = self.metadata(keys_older_than).await?;
        let issuer = IssuerUrl::new(self.issuer.clone()).map_err(|e| IdentityError::Unreachable(e.to_string()))?;
        let verifier = CoreIdTokenVerifier::new_confidential_client(
            self.client_id.clone(),
            self.client_secret.clone(),
            issuer,
            metadata.jwks().clone(),
        )
        .set_allowed_algs(ALGORITHMS)
        // A token that expired within the last minute by our clock is taken: the clocks differ.
        .set_time_fn(|| chrono::Utc::now() - CLOCK_SKEW);
        let checked = id_token.claims(&verifier, nonce).map_err(claims_error)?;
        // Authorized party (OpenID Connect Core 3.1.3.7, steps 4 and 5): with several audiences
        // it must be there, and when it is there it must be us.
        match checked.authorized_party() {
            Some(azp) if **azp != *self.client_id => {
                return Err(IdentityError::refused("authorized-party", format!("azp is `{}`", **azp)));
            }
            None if checked.audiences().len() > 1 => {
                return Err(IdentityError::refused("authorized-party", "several audiences and no azp"));
            }
            _ => {}
        }
        // The checked token's own payload: the claims the crate does not model (groups, or a
        // custom username claim) are read from it, and only after its signature held.
        claims::payload(&id_token.to_string())
    }

    /// The provider's RP-initiated logout address, when it has one: it ends the person's
    /// session there and sends the browser back to the sign-in page.
    pub async fn logout_url(&self, id_token: Option<&str>, after: &str) -> Option<String> {
        let metadata = self.metadata(None).await.ok()?;
        let endpoint = metadata.additional_metadata().end_session_endpoint.clone()?;
        let mut request = LogoutRequest::from(endpoint).set_client_id(self.client_id.clone());
        if let Ok(after) = url::Url::parse(after) {
            request = request.set_post_logout_redirect_uri(PostLogoutRedirectUrl::from_url(after));
        }
        if let Some(token) = id_token.and_then(|t| t.parse::<CoreIdToken>().ok()) {
            request = request.set_id_token_hint(&token);
        }
        Some(request.http_get_url().to_string())
    }
}

fn check_nonce(found: Option<&Nonce>, expected: &Nonce) -> Result<(), String> {
    use subtle::ConstantTimeEq;
    match found {
        Some(n) if bool::from(n.secret().as_bytes().ct_eq(expected.secret().as_bytes())) => Ok(()),
        Some(_) => Err("the nonce is not the one sent".into()),
        None => Err("the ID token has no nonce".into()),
    }
}

/// An error and its causes on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// A token endpoint's refusal is the provider's word (the code was used, or forged); a
/// request that did not get through is the provider being unreachable.
fn token_error<RE: std::error::Error + 'static, T: openidconnect::ErrorResponse + 'static>(
    e: openidconnect::RequestTokenError<RE, T>,
) -> IdentityError {
    match &e {
        openidconnect::RequestTokenError::ServerResponse(_) => IdentityError::refused("provider-refused", chain(&e)),
        openidconnect::RequestTokenError::Parse(..) => IdentityError::refused("malformed", chain(&e)),
        _ => IdentityError::Unreachable(chain(&e)),
    }
}

fn claims_error(e: ClaimsVerificationError) -> IdentityError {
    let reason = match &e {
        ClaimsVerificationError::Expired(_) => "expired",
        ClaimsVerificationError::InvalidAudience(_) => "wrong-audience",
        ClaimsVerificationError::InvalidIssuer(_) => "wrong-issuer",
        ClaimsVerificationError::InvalidNonce(_) => "nonce",
        ClaimsVerificationError::SignatureVerification(SignatureVerificationError::NoMatchingKey) => "unknown-key",
        ClaimsVerificationError::SignatureVerification(
            SignatureVerificationError::DisallowedAlg(_)
            | SignatureVerificationError::UnsupportedAlg(_)
            | SignatureVerificationError::NoSignature,
        ) => "algorithm",
        ClaimsVerificationError::SignatureVerification(_) => "bad-signature",
        _ => "malformed",
    };
    IdentityError::refused(reason, e)
}
