//! What several operations answer alike: an object's checksums, sizes as S3's signed integers,
//! and the page size of a listing.

const MAX_KEYS: usize = 1000;

/// Sets the checksum fields of an output from a record: SHA-256 always (Vitrine verifies
/// uploads with it), plus the client's own checksums.
macro_rules! set_checksums {
    ($output:expr, $record:expr) => {{
        let record: &$crate::store::Record = $record;
        $output.checksum_sha256 = record.sha256_base64();
        $output.checksum_crc32 = record.crc32.clone();
        $output.checksum_crc32c = record.crc32c.clone();
        $output.checksum_sha1 = record.sha1.clone();
        $output.checksum_crc64nvme = record.crc64nvme.clone();
        $output.checksum_type = Some(s3s::dto::ChecksumType::from_static(s3s::dto::ChecksumType::FULL_OBJECT));
    }};
}
pub(super) use set_checksums;

pub(super) fn size_i64(size: u64) -> i64 {
    i64::try_from(size).unwrap_or(i64::MAX)
}

pub(super) fn max_keys(requested: Option<i32>) -> usize {
    requested.map_or(MAX_KEYS, |n| usize::try_from(n).unwrap_or(0).min(MAX_KEYS))
}
