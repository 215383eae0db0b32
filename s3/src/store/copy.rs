//! Bytes already on disk copied into temp files, hashed on the way: the parts of a multipart
//! upload into its object, and files of another layout imported as objects.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;

use s3s::dto;
use sha2::{Digest, Sha256};

use super::checksums::Digests;
use super::record::Record;
use super::root::FsStore;
use super::spool::BATCH;
use super::temp::Commit;

/// Copies `len` bytes from `src` (at its current position) to `dst`, hashing them (blocking).
pub(crate) fn copy_hashing(src: &mut impl Read, dst: &mut File, len: u64, sha256: &mut Sha256) -> io::Result<()> {
    let mut buf = vec![0u8; BATCH];
    let mut left = len;
    while left > 0 {
        let want = usize::try_from(left.min(BATCH as u64)).unwrap_or(BATCH);
        let n = src.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "source ended early"));
        }
        sha256.update(&buf[..n]);
        dst.write_all(&buf[..n])?;
        left -= n as u64;
    }
    Ok(())
}

/// Stores `src`'s bytes as an object (blocking): used to import files from another layout.
pub(crate) fn import_file(
    store: &FsStore,
    bucket: &str,
    key: &str,
    src: &Path,
    content_type: Option<String>,
) -> io::Result<()> {
    let mut source = File::open(src)?;
    let len = source.metadata()?.len();
    let mut tmp = store.temp()?;
    let mut sha256 = Sha256::new();
    copy_hashing(&mut source, &mut tmp.file, len, &mut sha256)?;
    let digests = Digests { size: len, sha256: sha256.finalize().into(), client: dto::Checksum::default(), md5: None };
    let mut record = Record::new(key, &digests, digests.etag());
    record.content_type = content_type;
    tmp.append_record(&record)?;
    let dest = store.object_path(bucket, key).map_err(|e| io::Error::other(format!("{e:?}")))?;
    tmp.commit(&dest, Commit::Replace, true)
}
