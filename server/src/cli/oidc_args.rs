//! `vitrine serve`'s sign-in flags: OpenID Connect providers, and what their claims give.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use crate::identity::{OidcSettings, ProviderSettings, RECHECK_AFTER};
use vitrine_agent::duration::parse_duration;

/// One provider per `--oidc-issuer`; `--oidc-client-id`, `--oidc-client-secret-file` and
/// `--oidc-name` are given as often, in the same order. Register
/// `<public-url>/auth/oidc/callback` as the redirect URI at each provider.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Sign-in with OpenID Connect")]
pub struct OidcArgs {
    /// An identity provider's issuer URL (its discovery document is ISSUER/.well-known/openid-configuration).
    #[arg(long = "oidc-issuer", env = "VITRINE_OIDC_ISSUER", value_delimiter = ' ')]
    pub issuer: Vec<String>,
    /// The client id Vitrine has at the provider.
    #[arg(long = "oidc-client-id", env = "VITRINE_OIDC_CLIENT_ID", value_delimiter = ' ')]
    pub client_id: Vec<String>,
    /// A file holding the client's secret (its first line).
    #[arg(long = "oidc-client-secret-file", env = "VITRINE_OIDC_CLIENT_SECRET_FILE", value_delimiter = ' ')]
    pub client_secret_file: Vec<PathBuf>,
    /// What the sign-in page calls the provider: "Sign in with NAME" (default: its host).
    #[arg(long = "oidc-name", env = "VITRINE_OIDC_NAME", value_delimiter = ',')]
    pub name: Vec<String>,
    /// No password form: people sign in through a provider only.
    #[arg(long = "oidc-only", env = "VITRINE_OIDC_ONLY")]
    pub only: bool,
    /// The claim a new user's name is made from.
    #[arg(long = "oidc-username-claim", env = "VITRINE_OIDC_USERNAME_CLAIM", default_value = "preferred_username")]
    pub username_claim: String,
    /// The claim that lists a person's groups (`groups`); groups then give project roles
    /// (`admin project map-group`). Without it, groups give and take nothing.
    #[arg(long = "oidc-groups-claim", env = "VITRINE_OIDC_GROUPS_CLAIM")]
    pub groups_claim: Option<String>,
    /// Members of this group are instance admins (with --oidc-groups-claim).
    #[arg(long = "oidc-admin-group", env = "VITRINE_OIDC_ADMIN_GROUP")]
    pub admin_group: Option<String>,
    /// How long a provider's word holds: a session is checked with the provider again after
    /// this (with a refresh token; without one, the person signs in again).
    #[arg(long = "oidc-recheck-after", env = "VITRINE_OIDC_RECHECK_AFTER", default_value = "8h", value_parser = parse_duration)]
    pub recheck_after: Duration,
    /// Scopes asked for besides `openid` (`offline_access` for a refresh token at most providers).
    #[arg(long = "oidc-scopes", env = "VITRINE_OIDC_SCOPES", value_delimiter = ' ', default_value = "profile email")]
    pub scopes: Vec<String>,
}

impl OidcArgs {
    /// The providers as settings; the callback URLs are filled in once the public URL is known.
    pub fn settings(&self) -> anyhow::Result<OidcSettings> {
        let count = self.issuer.len();
        anyhow::ensure!(
            self.client_id.len() == count && self.client_secret_file.len() == count,
            "give --oidc-client-id and --oidc-client-secret-file once for each --oidc-issuer, in the same order \
             ({count} issuers, {} client ids, {} secret files)",
            self.client_id.len(),
            self.client_secret_file.len()
        );
        anyhow::ensure!(
            self.name.is_empty() || self.name.len() == count,
            "give --oidc-name once for each --oidc-issuer, or not at all"
        );
        anyhow::ensure!(!self.only || count > 0, "--oidc-only needs an --oidc-issuer: nobody could sign in");
        anyhow::ensure!(
            self.admin_group.is_none() || self.groups_claim.is_some(),
            "--oidc-admin-group needs --oidc-groups-claim (the claim that lists the groups)"
        );
        let mut providers = Vec::new();
        for (i, issuer) in self.issuer.iter().enumerate() {
            let issuer = issuer.trim().to_owned();
            anyhow::ensure!(
                !providers.iter().any(|p: &ProviderSettings| p.issuer == issuer),
                "--oidc-issuer {issuer} is given twice"
            );
            let file = &self.client_secret_file[i];
            let secret = std::fs::read_to_string(file)
                .with_context(|| format!("reading the client secret of {issuer} from {}", file.display()))?;
            let secret = secret.lines().next().unwrap_or_default().trim().to_owned();
            anyhow::ensure!(!secret.is_empty(), "the client secret file {} is empty", file.display());
            let name = self.name.get(i).map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()).unwrap_or_else(|| {
                url::Url::parse(&issuer)
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_owned))
                    .unwrap_or_else(|| issuer.clone())
            });
            providers.push(ProviderSettings {
                name,
                issuer,
                client_id: self.client_id[i].trim().to_owned(),
                client_secret: secret,
            });
        }
        Ok(OidcSettings {
            providers,
            only: self.only,
            username_claim: self.username_claim.clone(),
            groups_claim: self.groups_claim.clone().filter(|g| !g.is_empty()),
            admin_group: self.admin_group.clone().filter(|g| !g.is_empty()),
            recheck_after: if self.recheck_after.is_zero() { RECHECK_AFTER } else { self.recheck_after },
            scopes: self.scopes.iter().filter(|s| !s.is_empty() && *s != "openid").cloned().collect(),
            redirect_url: String::new(),
            after_logout_url: String::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Flags {
        #[command(flatten)]
        oidc: OidcArgs,
    }

    fn parse(args: &[&str]) -> anyhow::Result<OidcSettings> {
        Flags::try_parse_from(std::iter::once("serve").chain(args.iter().copied()))?.oidc.settings()
    }

    #[test]
    fn providers_are_read_in_order_with_their_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, "secret-a\n").unwrap();
        std::fs::write(&b, "secret-b").unwrap();
        let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
        let s = parse(&[
            "--oidc-issuer",
            "https://sso.acme.example",
            "--oidc-client-id",
            "one",
            "--oidc-client-secret-file",
            a,
            "--oidc-issuer",
            "https://login.example/tenant/v2.0",
            "--oidc-client-id",
            "two",
            "--oidc-client-secret-file",
            b,
            "--oidc-name",
            "Acme SSO",
            "--oidc-name",
            "Entra",
        ])
        .unwrap();
        let names: Vec<_> = s.providers.iter().map(|p| (p.name.as_str(), p.client_secret.as_str())).collect();
        assert_eq!(names, [("Acme SSO", "secret-a"), ("Entra", "secret-b")]);
        assert_eq!(s.username_claim, "preferred_username");
        assert_eq!(s.scopes, ["profile", "email"]);
        // Without a name, a provider is called by its host.
        let s = parse(&[
            "--oidc-issuer",
            "https://sso.acme.example",
            "--oidc-client-id",
            "x",
            "--oidc-client-secret-file",
            a,
        ])
        .unwrap();
        assert_eq!(s.providers[0].name, "sso.acme.example");
    }

    #[test]
    fn incomplete_settings_are_refused_in_words() {
        let missing = parse(&["--oidc-issuer", "https://sso.example"]).unwrap_err().to_string();
        assert!(missing.contains("once for each --oidc-issuer"), "{missing}");
        let only = parse(&["--oidc-only"]).unwrap_err().to_string();
        assert!(only.contains("nobody could sign in"), "{only}");
        let admins = parse(&["--oidc-admin-group", "ops"]).unwrap_err().to_string();
        assert!(admins.contains("--oidc-groups-claim"), "{admins}");
        let secret = parse(&[
            "--oidc-issuer",
            "https://sso.example",
            "--oidc-client-id",
            "x",
            "--oidc-client-secret-file",
            "/nonexistent/secret",
        ]);
        assert!(secret.unwrap_err().to_string().contains("reading the client secret"));
        assert!(parse(&[]).unwrap().providers.is_empty(), "no flag: passwords only");
    }
}
