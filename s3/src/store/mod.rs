//! The embedded store's files: on-disk layout, the object record format and the write protocol
//! (spool to a temp file while hashing, check, then commit with one atomic filesystem operation).
//! The S3 operations on top of it live in `s3/`.
//!
//! Layout under the root (`<data-dir>/store`), directories 0700, files 0600:
//! - `tmp/<uuid>`: files (and new upload directories) being written. Anything left there at
//!   start-up belongs to a request that never committed and is removed.
//! - `buckets/<bucket>/<hh>/<h>`: one file per object, `h` the hex SHA-256 of the key and `hh` its
//!   first two digits. A key is never a path, so any S3 key (1024 bytes, `/`, `..`) is safe.
//! - `uploads/<upload-id>/upload.json` and `part-<n>`: multipart uploads in progress.
//!
//! Record format: an object (or part) file is `<bytes><JSON Record><u32 LE length of the JSON><MAGIC>`.
//! The bytes and what describes them (key, size, ETag, SHA-256, checksums, content type) are one
//! file, so a single `rename(2)` (replace) or `link(2)` (create only: fails with EEXIST, the
//! atomic `If-None-Match: *`) commits both. Readers that already opened the old file keep reading
//! it, so a GET racing a replace or a delete sees one whole version.
//!
//! Durability: the temp file is `fdatasync`ed before it is committed, so the name never points at
//! bytes that are not on disk yet (no torn object after a power loss). Directories are not
//! synced: after a power loss the newest commits may be missing (the previous version, or no
//! object, is visible), which costs one fsync less per object and is never a partial object.
//!
//! The files, bottom up: `disk.rs` (directories, errors, the blocking pool), `checksums.rs`
//! (what the bytes hash to), `record.rs` (the record format), `temp.rs` (temp files and their
//! commit), `root.rs` (the root, buckets and objects), `uploads.rs` (multipart uploads in
//! progress), `spool.rs` (request bodies into temp files), `copy.rs` (bytes on disk into temp
//! files). This file only names what the rest of the crate uses.

mod checksums;
mod copy;
mod disk;
mod record;
mod root;
mod spool;
mod temp;
mod uploads;

pub(crate) use checksums::{Algorithm, Digests, Hashers};
pub(crate) use copy::{copy_hashing, import_file};
pub(crate) use disk::{blocking, internal};
pub(crate) use record::{Record, now_ms, read_record, timestamp};
pub use root::FsStore;
pub(crate) use spool::Spool;
pub(crate) use temp::{Commit, TempFile};
pub(crate) use uploads::{UploadInfo, part_path, read_parts};
