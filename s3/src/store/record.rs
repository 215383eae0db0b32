//! The object record: what an object (or part) file says about its bytes, written after them as
//! `<JSON Record><u32 LE length of the JSON><MAGIC>` and read back from the file's end.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use s3s::dto::{ETag, Timestamp};
use serde::{Deserialize, Serialize};

use super::checksums::Digests;

const MAGIC: &[u8; 8] = b"VTRNOBJ1";
/// JSON length (u32) and magic after the record.
const TAIL: u64 = 12;

/// What an object file says about its bytes. Also used for multipart parts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Record {
    pub key: String,
    pub size: u64,
    /// Unquoted: 32 hex digits, or `<hex>-<parts>` for a multipart object.
    pub etag: String,
    /// Hex SHA-256 of the whole object, always present.
    pub sha256: String,
    /// Client-announced checksums (base64), verified when the bytes arrived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crc32: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crc32c: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha1: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crc64nvme: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Milliseconds since the Unix epoch.
    pub modified_ms: u64,
    /// Part count of a multipart object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parts: Option<u32>,
}

impl Record {
    pub fn new(key: &str, digests: &Digests, etag: String) -> Record {
        Record {
            key: key.to_owned(),
            size: digests.size,
            etag,
            sha256: hex::encode(digests.sha256),
            crc32: digests.client.checksum_crc32.clone(),
            crc32c: digests.client.checksum_crc32c.clone(),
            sha1: digests.client.checksum_sha1.clone(),
            crc64nvme: digests.client.checksum_crc64nvme.clone(),
            content_type: None,
            modified_ms: now_ms(),
            parts: None,
        }
    }

    pub fn e_tag(&self) -> ETag {
        ETag::Strong(self.etag.clone())
    }

    pub fn last_modified(&self) -> Timestamp {
        timestamp(self.modified_ms)
    }

    pub fn sha256_base64(&self) -> Option<String> {
        hex::decode(&self.sha256).ok().map(|raw| B64.encode(raw))
    }

    /// What follows the bytes in the file: the record's JSON, its length and MAGIC.
    pub(super) fn tail(&self) -> io::Result<Vec<u8>> {
        let json = serde_json::to_vec(self)?;
        let json_len = u32::try_from(json.len()).map_err(|_| io::Error::other("record too large"))?;
        let mut tail = json;
        tail.extend_from_slice(&json_len.to_le_bytes());
        tail.extend_from_slice(MAGIC);
        Ok(tail)
    }
}

pub(crate) fn timestamp(ms: u64) -> Timestamp {
    Timestamp::from(UNIX_EPOCH + Duration::from_millis(ms))
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Reads the record at the end of an object file (blocking).
pub(crate) fn read_record(file: &File) -> io::Result<Record> {
    let damaged = |what: &str| io::Error::new(io::ErrorKind::InvalidData, format!("damaged object file: {what}"));
    let len = file.metadata()?.len();
    if len < TAIL {
        return Err(damaged("too short"));
    }
    let mut tail = [0u8; TAIL as usize];
    file.read_exact_at(&mut tail, len - TAIL)?;
    if &tail[4..] != MAGIC {
        return Err(damaged("no record"));
    }
    let json_len = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
    if len < TAIL + json_len {
        return Err(damaged("record length"));
    }
    let mut json = vec![0u8; usize::try_from(json_len).map_err(|_| damaged("record length"))?];
    file.read_exact_at(&mut json, len - TAIL - json_len)?;
    let record: Record = serde_json::from_slice(&json).map_err(|_| damaged("record"))?;
    if record.size + json_len + TAIL != len {
        return Err(damaged("size"));
    }
    Ok(record)
}
