//! Temp files under `tmp/`: written, synced, then committed into place with one `rename(2)` or
//! `link(2)`, and removed when dropped uncommitted.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::disk::mkdir;
use super::record::Record;

/// How a finished temp file takes its place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Commit {
    /// `rename(2)`: atomically replaces whatever was there.
    Replace,
    /// `link(2)`: fails with AlreadyExists if the name exists, atomically (`If-None-Match: *`).
    CreateOnly,
}

/// A file in `tmp/`, removed when dropped unless it was renamed into place.
pub(crate) struct TempFile {
    path: PathBuf,
    pub file: File,
    armed: bool,
}

impl TempFile {
    pub(super) fn create(dir: &Path) -> io::Result<TempFile> {
        let path = dir.join(uuid::Uuid::new_v4().simple().to_string());
        let file = OpenOptions::new().read(true).write(true).create_new(true).mode(0o600).open(&path)?;
        Ok(TempFile { path, file, armed: true })
    }

    /// Appends the record; the file must hold exactly `record.size` bytes of data.
    pub fn append_record(&mut self, record: &Record) -> io::Result<()> {
        self.file.write_all(&record.tail()?)
    }

    /// Syncs the bytes and links the file at `dest`. With `make_parent`, a missing parent
    /// directory (an object fan-out directory, never a bucket) is created.
    pub fn commit(mut self, dest: &Path, mode: Commit, make_parent: bool) -> io::Result<()> {
        self.file.sync_data()?;
        let attempt = |tmp: &Path| match mode {
            Commit::Replace => std::fs::rename(tmp, dest),
            Commit::CreateOnly => std::fs::hard_link(tmp, dest),
        };
        match attempt(&self.path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound && make_parent => {
                if let Some(parent) = dest.parent() {
                    match mkdir(parent, false) {
                        Ok(()) => {}
                        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                        Err(e) => return Err(e),
                    }
                }
                attempt(&self.path)?;
            }
            other => other?,
        }
        // After a rename the temp name is gone; after a link, Drop removes it.
        self.armed = mode == Commit::CreateOnly;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.armed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
