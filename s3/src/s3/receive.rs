//! A write's body received and checked: PutObject and UploadPart store their bytes only when
//! their length and every checksum the client announced (headers, aws-chunked trailers,
//! Content-MD5) match what the bytes hash to.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use http::HeaderMap;
use s3s::dto::{ChecksumAlgorithm, StreamingBlob};
use s3s::{S3Result, TrailingHeaders, s3_error};

use crate::store::{Algorithm, Digests, FsStore, Hashers, Record, Spool, TempFile};

/// Checksums a client sent (base64), to compare with what the bytes hash to.
type Claims = Vec<(Algorithm, String)>;

/// The checksums a client sent in headers, and every algorithm to compute: those plus the one
/// named by `x-amz-sdk-checksum-algorithm` and those announced for an aws-chunked trailer.
fn announced_claims(
    values: [(Algorithm, &Option<String>); 5],
    algorithm: Option<&ChecksumAlgorithm>,
    headers: &HeaderMap,
) -> S3Result<(Claims, Vec<Algorithm>)> {
    let claims: Claims = values.iter().filter_map(|(a, v)| v.as_ref().map(|v| (*a, v.clone()))).collect();
    let mut algorithms: Vec<Algorithm> = claims.iter().map(|(a, _)| *a).collect();
    if let Some(algorithm) = algorithm {
        let name = algorithm.as_str();
        algorithms.push(
            Algorithm::from_name(name)
                .ok_or_else(|| s3_error!(InvalidArgument, "unknown checksum algorithm {name}"))?,
        );
    }
    for value in headers.get_all("x-amz-trailer") {
        let value = value.to_str().map_err(|_| s3_error!(InvalidArgument, "invalid x-amz-trailer"))?;
        algorithms.extend(value.split(',').filter_map(Algorithm::from_header));
    }
    Ok((claims, algorithms))
}

/// What a PUT or UploadPart input announced about its body (the two inputs share field names,
/// not a type).
macro_rules! announced {
    ($input:expr) => {
        $crate::s3::receive::Announced {
            checksums: [
                ($crate::store::Algorithm::Crc32, &$input.checksum_crc32),
                ($crate::store::Algorithm::Crc32c, &$input.checksum_crc32c),
                ($crate::store::Algorithm::Sha1, &$input.checksum_sha1),
                ($crate::store::Algorithm::Sha256, &$input.checksum_sha256),
                ($crate::store::Algorithm::Crc64Nvme, &$input.checksum_crc64nvme),
            ],
            algorithm: $input.checksum_algorithm.as_ref(),
            content_md5: $input.content_md5.clone(),
            content_length: $input.content_length,
        }
    };
}
pub(super) use announced;

/// What a write (PUT or part) announced about its body.
pub(super) struct Announced<'a> {
    pub checksums: [(Algorithm, &'a Option<String>); 5],
    pub algorithm: Option<&'a ChecksumAlgorithm>,
    pub content_md5: Option<String>,
    pub content_length: Option<i64>,
}

impl FsStore {
    /// Receives a write's body into a temp file, hashing it. Answers the check to run on the
    /// blocking pool: it refuses the bytes unless their length and every checksum announced
    /// (headers, aws-chunked trailers, Content-MD5) match, and otherwise yields the temp file
    /// and the record for `key` (not yet appended or committed).
    pub(super) async fn receive(
        &self,
        body: Option<StreamingBlob>,
        announced: Announced<'_>,
        headers: &HeaderMap,
        trailers: Option<&TrailingHeaders>,
    ) -> S3Result<impl FnOnce(&str) -> S3Result<(TempFile, Record)> + Send + 'static> {
        let (mut claims, algorithms) = announced_claims(announced.checksums, announced.algorithm, headers)?;
        let hashers = Hashers::new(&algorithms, announced.content_md5.is_some());
        let limit = announced.content_length.and_then(|n| u64::try_from(n).ok());
        let spool = Spool::receive(self, body, hashers, limit).await?;
        claims.extend(trailer_claims(trailers)?);
        let (content_length, content_md5) = (announced.content_length, announced.content_md5);
        Ok(move |key: &str| {
            let (tmp, digests) = spool.finish()?;
            verify(&digests, &claims, content_length, content_md5.as_deref())?;
            let record = Record::new(key, &digests, digests.etag());
            Ok((tmp, record))
        })
    }
}

/// Checksums that came in an aws-chunked trailer, available once the body was read.
fn trailer_claims(trailers: Option<&TrailingHeaders>) -> S3Result<Claims> {
    let Some(map) = trailers.and_then(TrailingHeaders::take) else { return Ok(Vec::new()) };
    let mut claims = Vec::new();
    for algorithm in Algorithm::ALL {
        if let Some(value) = map.get(algorithm.header()) {
            let value = value.to_str().map_err(|_| s3_error!(InvalidArgument, "invalid {}", algorithm.header()))?;
            claims.push((algorithm, value.to_owned()));
        }
    }
    Ok(claims)
}

/// Whether two base64 values decode to the same bytes.
pub(super) fn same_base64(a: &str, b: &str) -> bool {
    matches!((B64.decode(a.trim()), B64.decode(b.trim())), (Ok(x), Ok(y)) if x == y)
}

/// The body must have the announced length and match every checksum the client sent.
fn verify(
    digests: &Digests,
    claims: &[(Algorithm, String)],
    content_length: Option<i64>,
    content_md5: Option<&str>,
) -> S3Result<()> {
    if let Some(len) = content_length
        && u64::try_from(len).ok() != Some(digests.size)
    {
        return Err(s3_error!(IncompleteBody, "the body has {} bytes, Content-Length said {len}", digests.size));
    }
    if let Some(md5) = content_md5 {
        let sent = B64.decode(md5.trim()).map_err(|_| s3_error!(InvalidDigest, "Content-MD5 is not base64"))?;
        if digests.md5.is_none_or(|computed| computed[..] != sent[..]) {
            return Err(s3_error!(BadDigest, "Content-MD5 does not match the body"));
        }
    }
    for (algorithm, sent) in claims {
        let header = algorithm.header();
        let computed = digests
            .get(*algorithm)
            .ok_or_else(|| s3_error!(InvalidRequest, "{header} arrived in a trailer x-amz-trailer did not announce"))?;
        if !same_base64(sent, &computed) {
            return Err(s3_error!(BadDigest, "{header} does not match the body"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use s3s::dto::Checksum;
    use sha2::{Digest, Sha256};

    use super::*;

    #[test]
    fn verify_refuses_a_wrong_or_unannounced_checksum() {
        let digests = Digests {
            size: 5,
            sha256: Sha256::digest(b"hello").into(),
            client: Checksum { checksum_crc32: Some("NhCmhg==".into()), ..Default::default() },
            md5: None,
        };
        let claim = |a: Algorithm, v: &str| vec![(a, v.to_owned())];
        assert!(verify(&digests, &claim(Algorithm::Crc32, "NhCmhg=="), Some(5), None).is_ok());
        let sha = B64.encode(Sha256::digest(b"hello"));
        assert!(verify(&digests, &claim(Algorithm::Sha256, &sha), None, None).is_ok());
        let code = |r: S3Result<()>| r.unwrap_err().code().as_str().to_owned();
        assert_eq!(code(verify(&digests, &claim(Algorithm::Crc32, "AAAAAA=="), None, None)), "BadDigest");
        assert_eq!(code(verify(&digests, &claim(Algorithm::Crc32c, "AAAAAA=="), None, None)), "InvalidRequest");
        assert_eq!(code(verify(&digests, &[], Some(6), None)), "IncompleteBody");
        assert_eq!(code(verify(&digests, &[], None, Some("XUFAKrxLKna5cZ2REBfFkg=="))), "BadDigest");
    }
}
