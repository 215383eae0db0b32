//! Copies of the embedded store for `vitrine admin backup` and `restore`: the objects of its
//! buckets, file by file, while the server that runs it keeps writing. Each object is one file
//! renamed into place when complete, and never changed afterwards, so a copy of each file is
//! a whole object; what is half-written (`tmp/`, multipart parts in `uploads/`) is left out.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::LocalStore;
use super::store::FsStore;

/// What a copy of the store's objects held.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Copied {
    pub objects: u64,
    pub bytes: u64,
}

fn buckets(data_dir: &Path) -> PathBuf {
    data_dir.join("store").join("buckets")
}

/// Whether a data dir holds an embedded store's objects.
pub fn has_objects(data_dir: &Path) -> bool {
    buckets(data_dir).is_dir()
}

/// Copies the objects of the embedded store in `from` (a data dir) into the data dir `to`,
/// which holds none yet.
pub fn copy_objects(from: &Path, to: &Path) -> anyhow::Result<Copied> {
    let (source, target) = (buckets(from), buckets(to));
    anyhow::ensure!(!target.exists(), "{} exists already: copy into a new folder", target.display());
    let mut copied = Copied::default();
    let mut dirs = vec![PathBuf::new()];
    while let Some(relative) = dirs.pop() {
        let dir = source.join(&relative);
        std::fs::create_dir_all(target.join(&relative))
            .with_context(|| format!("cannot create {}", target.join(&relative).display()))?;
        for entry in std::fs::read_dir(&dir).with_context(|| format!("cannot read {}", dir.display()))? {
            let entry = entry.with_context(|| format!("cannot read {}", dir.display()))?;
            let file_type = entry.file_type()?;
            let name = relative.join(entry.file_name());
            if file_type.is_dir() {
                dirs.push(name);
            } else if file_type.is_file() {
                match std::fs::copy(entry.path(), target.join(&name)) {
                    Ok(bytes) => {
                        copied.objects += 1;
                        copied.bytes += bytes;
                    }
                    // Deleted since it was listed here (a purge's sweep): not in the copy.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e).with_context(|| format!("cannot copy {}", entry.path().display())),
                }
            }
        }
    }
    Ok(copied)
}

/// The embedded store of a data dir that no server runs (a backup, or a restored data dir
/// before its server starts), to read objects' facts from.
pub fn open_idle(data_dir: &Path) -> anyhow::Result<LocalStore> {
    let root = data_dir.join("store");
    let store = FsStore::open(&root).with_context(|| format!("cannot open {}", root.display()))?;
    Ok(LocalStore { store })
}
