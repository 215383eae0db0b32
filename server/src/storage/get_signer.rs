//! Signing the artifact route's GET URLs straight from the key (see [`GetSigner`]).

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::Credentials;
use aws_sdk_s3::presigning::PresigningConfig;
use sha2::{Digest, Sha256};

use super::error::{StorageError, StorageResult, s3_err};
use vitrine_wire::agent::SignedRequest;

pub(super) fn signed(req: &aws_sdk_s3::presigning::PresignedRequest) -> SignedRequest {
    SignedRequest {
        url: req.uri().to_string(),
        headers: req.headers().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
    }
}

/// Percent-encodes all but S3's unreserved characters (`A-Z a-z 0-9 - _ . ~`).
const UNRESERVED: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');
/// Keys keep their `/`.
const KEY: &percent_encoding::AsciiSet = &UNRESERVED.remove(b'/');
/// Credentials this close to their expiry are fetched again before signing.
const CREDENTIALS_MARGIN: Duration = Duration::from_secs(300);
/// A key that only shows where the SDK puts a key in a URL.
const PROBE_KEY: &str = "vitrine-probe";

/// Signs GET URLs with SigV4 straight from the key, for the artifact route, the read path's
/// hottest call. The SDK's presigning builds a whole operation per URL (endpoint resolution,
/// interceptors, a request), and even `aws-sigv4`'s generic `sign` builds and sorts a
/// canonical request of owned strings and derives the signing key (four HMACs) each time:
/// most of the route's time. Here the URL's shape is fixed (a GET, the `host` header, two
/// response overrides), so its canonical form is written in one buffer in sorted order, and
/// the signing key is derived once a day with `aws-sigv4`'s own primitives. Where a key goes
/// in a URL (path-style or virtual-hosted, the endpoint) is learned once from one URL the
/// SDK presigns; a unit test checks every signature against `aws-sigv4`'s `sign`.
#[derive(Clone)]
pub(super) struct GetSigner {
    /// The bucket's URL up to where the key goes, and its path and `host` as signed.
    base: Arc<str>,
    path: Arc<str>,
    host: Arc<str>,
    region: Arc<str>,
    provider: Option<aws_credential_types::provider::SharedCredentialsProvider>,
    today: Arc<std::sync::RwLock<Option<Arc<SigningDay>>>>,
}

/// The credentials of the day and the signing key derived from them for that date.
struct SigningDay {
    day: chrono::NaiveDate,
    /// `day` as SigV4 writes it (`20261125`).
    date: String,
    key: [u8; 32],
    credentials: Credentials,
}

impl std::fmt::Debug for GetSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GetSigner").field("base", &self.base).finish_non_exhaustive()
    }
}

impl GetSigner {
    pub(super) async fn new(
        client: &Client,
        bucket: &str,
        region: &str,
        provider: Option<aws_credential_types::provider::SharedCredentialsProvider>,
    ) -> StorageResult<GetSigner> {
        let probe = client
            .get_object()
            .bucket(bucket)
            .key(PROBE_KEY)
            .presigned(PresigningConfig::expires_in(Duration::from_secs(60)).map_err(s3_err)?)
            .await
            .map_err(s3_err)?;
        let url = probe.uri().split('?').next().unwrap_or_default();
        let base = url
            .strip_suffix(PROBE_KEY)
            .ok_or_else(|| StorageError::S3(format!("unexpected presigned URL shape: {url}")))?;
        GetSigner::at(base, region, provider)
    }

    fn at(
        base: &str,
        region: &str,
        provider: Option<aws_credential_types::provider::SharedCredentialsProvider>,
    ) -> StorageResult<GetSigner> {
        let uri: http::Uri = base.parse().map_err(|e| StorageError::S3(format!("bad S3 URL {base}: {e}")))?;
        let authority = uri.authority().ok_or_else(|| StorageError::S3(format!("no host in {base}")))?;
        let default_port = match uri.scheme_str() {
            Some("https") => Some(443),
            _ => Some(80),
        };
        let host = if authority.port_u16() == default_port { authority.host() } else { authority.as_str() };
        Ok(GetSigner {
            base: base.into(),
            path: uri.path().into(),
            host: host.into(),
            region: region.into(),
            provider,
            today: Arc::new(std::sync::RwLock::new(None)),
        })
    }

    /// Today's signing key, derived again when the date changes or the credentials near
    /// their expiry.
    async fn signing_day(&self, now: chrono::DateTime<chrono::Utc>) -> StorageResult<Arc<SigningDay>> {
        use aws_credential_types::provider::ProvideCredentials;
        let today = now.date_naive();
        let fresh = |day: &SigningDay| {
            day.day == today
                && day.credentials.expiry().is_none_or(|at| at > std::time::SystemTime::from(now) + CREDENTIALS_MARGIN)
        };
        if let Some(day) = self.today.read().expect("not poisoned").as_ref().filter(|d| fresh(d)) {
            return Ok(day.clone());
        }
        let provider = self.provider.as_ref().ok_or_else(|| StorageError::S3("no AWS credentials".into()))?;
        let credentials = provider.provide_credentials().await.map_err(s3_err)?;
        let key =
            aws_sigv4::sign::v4::generate_signing_key(credentials.secret_access_key(), now.into(), &self.region, "s3");
        let key: [u8; 32] = key.as_ref().try_into().map_err(s3_err)?;
        let date = today.format("%Y%m%d").to_string();
        let day = Arc::new(SigningDay { day: today, date, key, credentials });
        *self.today.write().expect("not poisoned") = Some(day.clone());
        Ok(day)
    }

    pub(super) async fn sign(
        &self,
        key: &str,
        content_type: &str,
        content_disposition: Option<&str>,
        expires: Duration,
    ) -> StorageResult<String> {
        let now = chrono::Utc::now();
        let day = self.signing_day(now).await?;
        Ok(self.sign_at(&day, now, key, content_type, content_disposition, expires))
    }

    fn sign_at(
        &self,
        day: &SigningDay,
        now: chrono::DateTime<chrono::Utc>,
        key: &str,
        content_type: &str,
        content_disposition: Option<&str>,
        expires: Duration,
    ) -> String {
        use std::fmt::Write;

        use percent_encoding::utf8_percent_encode as encode;
        // chrono's `format` parses its pattern on every call: written out, it costs nothing.
        use chrono::Timelike;
        let (hour, minute, second) = (now.hour(), now.minute(), now.second());
        let amz_date = format_args!("{}T{hour:02}{minute:02}{second:02}Z", day.date);
        let scope = format_args!("{}/{}/s3/aws4_request", day.date, self.region);
        // The query in canonical order (by name, bytes: `X-Amz-…` before `response-…`).
        let mut query = String::with_capacity(512);
        let _ = write!(
            query,
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={}%2F{}%2F{}%2Fs3%2Faws4_request&X-Amz-Date={amz_date}\
             &X-Amz-Expires={}",
            encode(day.credentials.access_key_id(), UNRESERVED),
            day.date,
            self.region,
            expires.as_secs()
        );
        if let Some(token) = day.credentials.session_token() {
            let _ = write!(query, "&X-Amz-Security-Token={}", encode(token, UNRESERVED));
        }
        query.push_str("&X-Amz-SignedHeaders=host");
        if let Some(disposition) = content_disposition {
            let _ = write!(query, "&response-content-disposition={}", encode(disposition, UNRESERVED));
        }
        let _ = write!(query, "&response-content-type={}", encode(content_type, UNRESERVED));
        let key = encode(key, KEY);
        let mut canonical = Sha256::new();
        let mut hashed = String::with_capacity(1024);
        let _ = write!(hashed, "GET\n{}{key}\n{query}\nhost:{}\n\nhost\nUNSIGNED-PAYLOAD", self.path, self.host);
        canonical.update(hashed.as_bytes());
        hashed.clear();
        let _ = write!(hashed, "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}", hex::encode(canonical.finalize()));
        let signature = aws_sigv4::sign::v4::calculate_signature(day.key, hashed.as_bytes());
        format!("{}{key}?{query}&X-Amz-Signature={signature}", self.base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The signature `aws-sigv4`'s generic `sign` gives the same request at the same time.
    fn reference_signature(url: &str, credentials: &Credentials, region: &str, at: std::time::SystemTime) -> String {
        use aws_sigv4::http_request::{
            PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation,
            SigningSettings, UriPathNormalizationMode, sign,
        };
        let mut settings = SigningSettings::default();
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.payload_checksum_kind = PayloadChecksumKind::NoHeader;
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(Duration::from_secs(300));
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        let identity = credentials.clone().into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(region)
            .name("s3")
            .time(at)
            .settings(settings)
            .build()
            .unwrap()
            .into();
        let request = SignableRequest::new("GET", url, std::iter::empty(), SignableBody::UnsignedPayload).unwrap();
        let (instructions, _) = sign(request, &params).unwrap().into_parts();
        let found = instructions.params().iter().find(|(name, _)| *name == "X-Amz-Signature");
        found.expect("a signature").1.to_string()
    }

    #[test]
    fn fast_get_urls_carry_the_signature_aws_sigv4_computes() {
        let at = chrono::DateTime::parse_from_rfc3339("2026-11-25T06:30:00Z").unwrap().to_utc();
        let cases = [
            ("http://127.0.0.1:9000/artifacts/", None),
            ("https://artifacts.s3.eu-west-1.amazonaws.com/", Some("session/token+=")),
            ("http://minio.internal:80/bucket/", None),
        ];
        for (base, session) in cases {
            let credentials = Credentials::new(
                "AKIDEXAMPLE",
                "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                session.map(str::to_owned),
                None,
                "t",
            );
            let signer = GetSigner::at(base, "eu-west-1", None).unwrap();
            let key = aws_sigv4::sign::v4::generate_signing_key(
                credentials.secret_access_key(),
                at.into(),
                "eu-west-1",
                "s3",
            );
            let day = SigningDay {
                day: at.date_naive(),
                date: "20261125".into(),
                key: key.as_ref().try_into().unwrap(),
                credentials,
            };
            let disposition = "attachment; filename*=UTF-8''r%C3%A9sum%C3%A9 (1).html";
            for disposition in [Some(disposition), None] {
                let url = signer.sign_at(
                    &day,
                    at,
                    "b/0123abcd",
                    "text/html; charset=utf-8",
                    disposition,
                    Duration::from_secs(300),
                );
                let (unsigned, ours) = url.rsplit_once("&X-Amz-Signature=").unwrap();
                // The request as the SDK would hand it to the signer: the overrides only.
                let (path, query) = unsigned.split_once('?').unwrap();
                let overrides: Vec<&str> = query.split('&').filter(|p| !p.starts_with("X-Amz-")).collect();
                let request = format!("{path}?{}", overrides.join("&"));
                assert_eq!(ours, reference_signature(&request, &day.credentials, "eu-west-1", at.into()), "{url}");
                assert!(url.starts_with(&format!("{base}b/0123abcd?X-Amz-Algorithm=AWS4-HMAC-SHA256&")), "{url}");
            }
        }
        // The host as signed leaves out the scheme's default port.
        assert_eq!(&*GetSigner::at("http://minio.internal:80/b/", "r", None).unwrap().host, "minio.internal");
        assert_eq!(&*GetSigner::at("http://127.0.0.1:9000/b/", "r", None).unwrap().host, "127.0.0.1:9000");
    }
}
