//! What the server asks of browsers and believes of proxies: the app's Content Security
//! Policy, its cookie policy, which peers may name a client's address, who may read metrics.

use std::net::IpAddr;

use vitrine_app::api::backend::CookiePolicy;

/// Built once at start-up from the serve configuration.
#[derive(Debug, Clone)]
pub struct HttpPolicy {
    /// People reach the server over https: cookies are `Secure` and `__Host-` prefixed.
    pub https: bool,
    /// Proxies (load balancers) whose `X-Forwarded-For` tells the client's address.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Clients (by [`HttpPolicy::client_addr`]) that may read /metrics.
    pub metrics_allow: Vec<ipnet::IpNet>,
    /// Origins besides the app's that its pages load images and media from: the S3 store's
    /// (signed URLs) and the artifacts origin (a `*` host there is a CSP wildcard too).
    pub media_origins: Vec<String>,
    /// The identity providers' origins: a sign-in form (and the sign-out button) posts to the
    /// app, which sends the browser on to the provider, and a form's redirects must be allowed
    /// by `form-action` too.
    pub sign_in_origins: Vec<String>,
}

impl HttpPolicy {
    /// The app's pages run only their own scripts (the files under `/pkg` and the inline
    /// hydration script carrying `nonce`), load styles from themselves, images and media
    /// from themselves and the stores that artifact links lead to, and cannot be framed.
    pub fn content_security_policy(&self, nonce: &str) -> String {
        let media = self.media_origins.join(" ");
        let forms = self.sign_in_origins.iter().fold(String::new(), |all, o| all + " " + o);
        format!(
            "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; style-src 'self'; \
             img-src 'self' data: {media}; media-src 'self' {media}; connect-src 'self'; object-src 'none'; \
             base-uri 'none'; form-action 'self'{forms}; frame-ancestors 'none'"
        )
    }

    /// Session cookies are `Secure` (and `__Host-` prefixed) when people reach us over https.
    pub fn cookies(&self) -> CookiePolicy {
        CookiePolicy { secure: self.https }
    }

    /// The address a request came from: the peer's, or, when the peer is a trusted proxy,
    /// the last address in `X-Forwarded-For` that is not itself a trusted proxy. A client
    /// cannot pick its address by sending the header itself: an untrusted peer's is ignored.
    pub fn client_addr(&self, headers: &http::HeaderMap, peer: Option<IpAddr>) -> Option<IpAddr> {
        let peer = peer?;
        let trusted = |ip: &IpAddr| self.trusted_proxies.iter().any(|net| net.contains(ip));
        if !trusted(&peer) {
            return Some(peer);
        }
        let forwarded: Vec<IpAddr> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|a| a.trim().parse().ok())
            .collect();
        Some(forwarded.iter().rev().find(|ip| !trusted(ip)).or(forwarded.first()).copied().unwrap_or(peer))
    }

    /// May this client read /metrics?
    pub fn may_read_metrics(&self, client: Option<IpAddr>) -> bool {
        client.is_some_and(|ip| self.metrics_allow.iter().any(|net| net.contains(&ip)))
    }
}

/// Does an `Accept-Encoding` header take gzip (not refused with `q=0`)?
pub fn accepts_gzip(accept_encoding: &str) -> bool {
    let mut gzip = None;
    let mut any = None;
    for part in accept_encoding.split(',') {
        let mut fields = part.split(';').map(str::trim);
        let coding = fields.next().unwrap_or("").to_ascii_lowercase();
        let q = fields
            .find_map(|f| f.strip_prefix("q=").or_else(|| f.strip_prefix("Q=")))
            .map_or(1.0, |q| q.parse::<f32>().unwrap_or(0.0));
        match coding.as_str() {
            "gzip" | "x-gzip" => gzip = Some(q > 0.0),
            "*" => any = Some(q > 0.0),
            _ => {}
        }
    }
    gzip.or(any).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(proxies: &[&str]) -> HttpPolicy {
        HttpPolicy {
            https: true,
            trusted_proxies: proxies.iter().map(|p| p.parse().unwrap()).collect(),
            metrics_allow: vec!["127.0.0.0/8".parse().unwrap()],
            media_origins: vec![],
            sign_in_origins: vec!["https://sso.example".into()],
        }
    }

    fn forwarded(value: &str) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        headers.insert("x-forwarded-for", value.parse().unwrap());
        headers
    }

    #[test]
    fn forwarded_addresses_count_only_from_trusted_proxies() {
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        let none = policy(&[]);
        // Anyone can send the header: from an untrusted peer it is ignored.
        assert_eq!(none.client_addr(&forwarded("1.2.3.4"), ip("9.9.9.9")), ip("9.9.9.9"));
        let lb = policy(&["10.0.0.0/8"]);
        assert_eq!(lb.client_addr(&forwarded("1.2.3.4"), ip("10.0.0.7")), ip("1.2.3.4"));
        // The client's own claim comes first; the proxy appends what it saw.
        assert_eq!(lb.client_addr(&forwarded("6.6.6.6, 1.2.3.4"), ip("10.0.0.7")), ip("1.2.3.4"));
        assert_eq!(lb.client_addr(&forwarded("1.2.3.4, 10.0.0.9"), ip("10.0.0.7")), ip("1.2.3.4"));
        assert_eq!(lb.client_addr(&http::HeaderMap::new(), ip("10.0.0.7")), ip("10.0.0.7"));
        assert!(lb.cookies().secure, "https public URL: Secure, __Host- cookies");
        assert!(lb.may_read_metrics(ip("127.0.0.1")) && !lb.may_read_metrics(ip("10.0.0.7")));
        assert!(!lb.may_read_metrics(None));
    }

    #[test]
    fn forms_may_lead_to_the_identity_providers_only() {
        let csp = policy(&[]).content_security_policy("n");
        assert!(csp.contains("form-action 'self' https://sso.example;"), "{csp}");
    }

    #[test]
    fn gzip_is_taken_unless_refused() {
        assert!(accepts_gzip("gzip, deflate, br"));
        assert!(accepts_gzip("br;q=1.0, gzip;q=0.8"));
        assert!(accepts_gzip("*"));
        assert!(!accepts_gzip("gzip;q=0"));
        assert!(!accepts_gzip("identity"));
        assert!(!accepts_gzip("br, *;q=0"));
    }
}
