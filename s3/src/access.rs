//! What a signed request may do. A request signed in its headers comes from a holder of the
//! store's keys (this server, `aws s3` with `embedded-s3.env`): it may do anything. A presigned
//! URL was handed to an untrusted agent or browser: it is the one operation it was signed for
//! (PutObject, UploadPart, GetObject), on its one key, and nothing else. As on AWS, an `x-amz-*`
//! header it did not sign is refused (one such header, `x-amz-copy-source`, would turn an upload
//! URL into a copy of any other key), and so are headers that change what a write does beyond
//! its bytes (copy, tagging, ACL, redirects, storage class, encryption, object lock) even when
//! signed: Vitrine never signs them.

use percent_encoding::percent_decode_str;
use s3s::access::{S3Access, S3AccessContext};
use s3s::{S3Result, s3_error};

/// The operations Vitrine presigns, as s3s names them.
const PRESIGNED_OPERATIONS: [&str; 3] = ["PutObject", "UploadPart", "GetObject"];

/// Prefixes of the header names a presigned request may never carry.
const REFUSED_ON_PRESIGNED: [&str; 13] = [
    "x-amz-copy-source",
    "x-amz-metadata-directive",
    "x-amz-tagging",
    "x-amz-acl",
    "x-amz-grant-",
    "x-amz-website-redirect-location",
    "x-amz-storage-class",
    "x-amz-server-side-encryption",
    "x-amz-object-lock-",
    "x-amz-bucket-object-lock-",
    "x-amz-write-offset-bytes",
    "x-amz-meta-",
    "x-amz-request-payer",
];

/// The embedded store's access policy (see the module docs).
pub(super) struct SignedScope;

#[async_trait::async_trait]
impl S3Access for SignedScope {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        if cx.credentials().is_none() {
            return Err(s3_error!(AccessDenied, "Signature required"));
        }
        let Some(signed) = presigned_headers(cx.uri().query().unwrap_or("")) else { return Ok(()) };
        check_presigned(cx.s3_op().name(), cx.headers().keys().map(http::HeaderName::as_str), &signed)
    }
}

/// The headers a presigned URL signed (lowercase), or `None` for a request signed in its
/// headers. A SigV2 query signature covers every `x-amz-*` header, so nothing is unsigned there.
fn presigned_headers(query: &str) -> Option<Signed> {
    let mut v2 = false;
    let mut v4 = None;
    for pair in query.split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        match name {
            "X-Amz-SignedHeaders" => {
                let value = percent_decode_str(value).decode_utf8_lossy().to_ascii_lowercase();
                v4 = Some(Signed::Only(value.split(';').map(str::to_owned).collect()));
            }
            "X-Amz-Signature" if v4.is_none() => v4 = Some(Signed::Only(Vec::new())),
            "Signature" => v2 = true,
            _ => {}
        }
    }
    v4.or(v2.then_some(Signed::AllAmz))
}

#[derive(Debug, PartialEq)]
enum Signed {
    Only(Vec<String>),
    AllAmz,
}

impl Signed {
    fn covers(&self, header: &str) -> bool {
        match self {
            Signed::Only(names) => names.iter().any(|n| n == header),
            Signed::AllAmz => true,
        }
    }
}

fn check_presigned<'h>(operation: &str, headers: impl Iterator<Item = &'h str>, signed: &Signed) -> S3Result<()> {
    if !PRESIGNED_OPERATIONS.contains(&operation) {
        return Err(s3_error!(AccessDenied, "a presigned URL may not be used for {operation}"));
    }
    for header in headers {
        if !header.starts_with("x-amz-") {
            continue;
        }
        if REFUSED_ON_PRESIGNED.iter().any(|refused| header.starts_with(refused)) {
            return Err(s3_error!(AccessDenied, "{header} is not allowed on a presigned URL"));
        }
        if !signed.covers(header) {
            return Err(s3_error!(
                AccessDenied,
                "There were headers present in the request which were not signed: {header}"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(operation: &str, headers: &[&str], signed: &Signed) -> Option<String> {
        check_presigned(operation, headers.iter().copied(), signed).err().map(|e| {
            assert_eq!(*e.code(), s3s::S3ErrorCode::AccessDenied);
            e.message().unwrap_or_default().to_owned()
        })
    }

    #[test]
    fn presigned_headers_come_from_the_query() {
        let q = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-SignedHeaders=content-length%3Bhost%3Bx-amz-checksum-sha256&X-Amz-Signature=ab";
        assert_eq!(
            presigned_headers(q),
            Some(Signed::Only(vec!["content-length".into(), "host".into(), "x-amz-checksum-sha256".into()]))
        );
        assert_eq!(presigned_headers("X-Amz-Signature=ab"), Some(Signed::Only(vec![])));
        assert_eq!(presigned_headers("AWSAccessKeyId=a&Expires=1&Signature=x"), Some(Signed::AllAmz));
        assert_eq!(presigned_headers("list-type=2&prefix=b%2F"), None);
        assert_eq!(presigned_headers(""), None);
    }

    #[test]
    fn a_presigned_url_is_its_operation_with_its_signed_headers() {
        let signed = Signed::Only(vec!["host".into(), "x-amz-checksum-sha256".into(), "content-length".into()]);
        assert_eq!(refused("PutObject", &["host", "content-length", "x-amz-checksum-sha256"], &signed), None);
        assert_eq!(refused("UploadPart", &["host", "content-type", "range"], &signed), None);
        let unsigned = refused("PutObject", &["host", "x-amz-checksum-crc32"], &signed).unwrap();
        assert!(unsigned.contains("not signed: x-amz-checksum-crc32"), "{unsigned}");
        for op in ["CopyObject", "UploadPartCopy", "DeleteObject", "ListObjectsV2", "CompleteMultipartUpload"] {
            assert!(refused(op, &["host"], &signed).unwrap().contains(op));
        }
        // Refused even when signed, and under a SigV2 signature that covers every x-amz header.
        for header in [
            "x-amz-copy-source",
            "x-amz-copy-source-range",
            "x-amz-tagging",
            "x-amz-acl",
            "x-amz-grant-read",
            "x-amz-website-redirect-location",
            "x-amz-storage-class",
            "x-amz-server-side-encryption",
            "x-amz-server-side-encryption-customer-key",
            "x-amz-object-lock-mode",
            "x-amz-meta-owner",
        ] {
            let signed = Signed::Only(vec![header.into()]);
            assert!(refused("PutObject", &[header], &signed).unwrap().contains("not allowed"), "{header}");
            assert!(refused("GetObject", &[header], &Signed::AllAmz).is_some(), "{header}");
        }
    }
}
