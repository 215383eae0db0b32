//! Multipart uploads in progress: `uploads/<upload-id>/`, with the upload's description in
//! `upload.json` and each part in `part-<n>`, an object file of its own.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use s3s::{S3Result, s3_error};
use serde::{Deserialize, Serialize};

use super::disk::{internal, mkdir};
use super::record::{Record, read_record};
use super::root::FsStore;

const UPLOAD_INFO: &str = "upload.json";

/// A multipart upload in progress, as created by CreateMultipartUpload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct UploadInfo {
    pub bucket: String,
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum_algorithm: Option<String>,
    pub initiated_ms: u64,
}

impl FsStore {
    fn upload_dir(&self, upload_id: &str) -> S3Result<PathBuf> {
        // Parsing keeps the id a plain path component.
        let id = uuid::Uuid::parse_str(upload_id).map_err(|_| s3_error!(NoSuchUpload, "no upload {upload_id}"))?;
        Ok(self.dirs.uploads.join(id.simple().to_string()))
    }

    /// Records a new multipart upload and returns its id (blocking).
    pub(crate) fn create_upload(&self, info: &UploadInfo) -> io::Result<String> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        // Built in tmp/ and renamed into place: an upload directory always has its upload.json.
        let staging = self.dirs.tmp.join(format!("{id}.upload"));
        mkdir(&staging, false)?;
        let mut file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(staging.join(UPLOAD_INFO))?;
        file.write_all(&serde_json::to_vec(info)?)?;
        std::fs::rename(&staging, self.dirs.uploads.join(&id))?;
        Ok(id)
    }

    /// The upload's directory and description, checked against the request's bucket and key
    /// (blocking).
    pub(crate) fn upload(&self, upload_id: &str, bucket: &str, key: &str) -> S3Result<(PathBuf, UploadInfo)> {
        let dir = self.upload_dir(upload_id)?;
        let text = match std::fs::read(dir.join(UPLOAD_INFO)) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(s3_error!(NoSuchUpload, "no upload {upload_id}"));
            }
            Err(e) => return Err(internal(e, "cannot read the upload")),
        };
        let info: UploadInfo =
            serde_json::from_slice(&text).map_err(|e| internal(io::Error::other(e), "damaged upload record"))?;
        if info.bucket != bucket || info.key != key {
            return Err(s3_error!(NoSuchUpload, "no upload {upload_id} for this key"));
        }
        Ok((dir, info))
    }

    /// Every upload in progress (blocking).
    pub(crate) fn uploads(&self) -> io::Result<Vec<(String, UploadInfo)>> {
        let mut uploads = Vec::new();
        for entry in std::fs::read_dir(&self.dirs.uploads)? {
            let entry = entry?;
            let Ok(id) = entry.file_name().into_string() else { continue };
            let info = match std::fs::read(entry.path().join(UPLOAD_INFO)) {
                Ok(text) => serde_json::from_slice::<UploadInfo>(&text).map_err(io::Error::other)?,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            uploads.push((id, info));
        }
        Ok(uploads)
    }
}

pub(crate) fn part_path(upload_dir: &Path, part_number: i32) -> PathBuf {
    upload_dir.join(format!("part-{part_number}"))
}

/// The parts uploaded so far, by part number (blocking).
pub(crate) fn read_parts(upload_dir: &Path) -> io::Result<Vec<(i32, Record)>> {
    let mut parts = Vec::new();
    for entry in std::fs::read_dir(upload_dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(n) = name.to_str().and_then(|n| n.strip_prefix("part-")).and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        match File::open(entry.path()).and_then(|f| read_record(&f)) {
            Ok(record) => parts.push((n, record)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    parts.sort_by_key(|(n, _)| *n);
    Ok(parts)
}
