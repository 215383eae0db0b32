//! What received bytes hash to: the checksum algorithms a client may announce, the hashers run
//! while the bytes are written, and the digests they end with.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use s3s::checksum::ChecksumHasher;
use s3s::crypto::{Checksum as _, Md5};
use s3s::dto;
use sha2::{Digest, Sha256};

/// The checksum algorithms of `x-amz-checksum-*` (SHA-256 is always computed anyway).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Algorithm {
    Crc32,
    Crc32c,
    Sha1,
    Sha256,
    Crc64Nvme,
}

impl Algorithm {
    pub const ALL: [Algorithm; 5] =
        [Algorithm::Crc32, Algorithm::Crc32c, Algorithm::Sha1, Algorithm::Sha256, Algorithm::Crc64Nvme];

    pub fn header(self) -> &'static str {
        match self {
            Algorithm::Crc32 => "x-amz-checksum-crc32",
            Algorithm::Crc32c => "x-amz-checksum-crc32c",
            Algorithm::Sha1 => "x-amz-checksum-sha1",
            Algorithm::Sha256 => "x-amz-checksum-sha256",
            Algorithm::Crc64Nvme => "x-amz-checksum-crc64nvme",
        }
    }

    /// From an algorithm name (`CRC32`, `sha256`, ...).
    pub fn from_name(name: &str) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|a| a.header()["x-amz-checksum-".len()..].eq_ignore_ascii_case(name.trim()))
    }

    /// From a header name (`x-amz-checksum-crc32`, ...).
    pub fn from_header(name: &str) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|a| a.header().eq_ignore_ascii_case(name.trim()))
    }
}

/// Hashes computed while the bytes are written.
pub(crate) struct Hashers {
    sha256: Sha256,
    client: ChecksumHasher,
    md5: Option<Md5>,
}

impl Hashers {
    pub fn new(algorithms: &[Algorithm], md5: bool) -> Hashers {
        let mut client = ChecksumHasher::default();
        for algorithm in algorithms {
            match algorithm {
                Algorithm::Crc32 => client.crc32 = Some(Default::default()),
                Algorithm::Crc32c => client.crc32c = Some(Default::default()),
                Algorithm::Sha1 => client.sha1 = Some(s3s::crypto::Sha1::new()),
                Algorithm::Crc64Nvme => client.crc64nvme = Some(Default::default()),
                // Computed by `sha256` below, with the sha2 crate (SHA-NI where available).
                Algorithm::Sha256 => {}
            }
        }
        Hashers { sha256: Sha256::new(), client, md5: md5.then(Md5::new) }
    }

    pub(super) fn update(&mut self, data: &[u8]) {
        self.sha256.update(data);
        self.client.update(data);
        if let Some(md5) = &mut self.md5 {
            md5.update(data);
        }
    }

    pub(super) fn finish(self, size: u64) -> Digests {
        Digests {
            size,
            sha256: self.sha256.finalize().into(),
            client: self.client.finalize(),
            md5: self.md5.map(Md5::finalize),
        }
    }
}

/// What the received bytes hash to.
pub(crate) struct Digests {
    pub size: u64,
    pub sha256: [u8; 32],
    /// Base64 values of the enabled client algorithms (SHA-256 excluded).
    pub client: dto::Checksum,
    pub md5: Option<[u8; 16]>,
}

impl Digests {
    /// Base64 value of an algorithm, if it was computed.
    pub fn get(&self, algorithm: Algorithm) -> Option<String> {
        match algorithm {
            Algorithm::Crc32 => self.client.checksum_crc32.clone(),
            Algorithm::Crc32c => self.client.checksum_crc32c.clone(),
            Algorithm::Sha1 => self.client.checksum_sha1.clone(),
            Algorithm::Sha256 => Some(B64.encode(self.sha256)),
            Algorithm::Crc64Nvme => self.client.checksum_crc64nvme.clone(),
        }
    }

    /// A simple object's ETag: the MD5 when the client sent Content-MD5 (S3 clients may compare
    /// them), else the first 16 bytes of the SHA-256: MD5 of every GiB upload would be wasted time.
    pub fn etag(&self) -> String {
        match &self.md5 {
            Some(md5) => hex::encode(md5),
            None => hex::encode(&self.sha256[..16]),
        }
    }
}
