//! Folders of a build's artifacts, as the Artifacts tab pages through them: a page's entries,
//! the bounds of a folder in path order, and the pages read from the index (a finished
//! build's kept).

use std::sync::Arc;

use super::error::ServiceResult;
use super::lookups::Kept;
use crate::domain::{FolderCursor, FolderPath, NodeIndex};
use vitrine_store::{Artifact, ArtifactStore, Build, BuildId, Db};

/// One line of a folder: a subfolder with how many artifacts it holds (at any depth), or an
/// artifact directly in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FolderEntry {
    Folder { name: String, path: String, count: i64 },
    File(Artifact),
}

/// A page of a folder, and where the next one starts (opaque to clients).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderPage {
    pub entries: Vec<FolderEntry>,
    pub next: Option<String>,
}

/// Above every artifact path of a folder: its path with the closing `/` raised to `0`; for
/// the top, above any path (no path holds U+10FFFF).
pub(crate) fn folder_end(folder: &str) -> String {
    match folder.strip_suffix('/') {
        Some(stem) => format!("{stem}0"),
        None => "\u{10FFFF}".to_owned(),
    }
}

/// The smallest string after `path`: paths hold no control characters, so no other path
/// falls between.
pub(crate) fn just_after(path: &str) -> String {
    format!("{path}\u{1}")
}

/// Which page of which folder of a container: `limit` entries from `from` (a previous
/// page's `next`, or the folder's start).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FolderPageAt {
    pub node: NodeIndex,
    pub folder: FolderPath,
    pub from: Option<FolderCursor>,
    pub limit: usize,
}

/// Which page of which folder of which state of a finished build.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FolderKey {
    build_id: BuildId,
    listing_version: i64,
    at: FolderPageAt,
}

#[derive(Clone)]
pub struct FolderWeight;

impl quick_cache::Weighter<FolderKey, Arc<FolderPage>> for FolderWeight {
    fn weight(&self, key: &FolderKey, page: &Arc<FolderPage>) -> u64 {
        let entry = |e: &FolderEntry| match e {
            FolderEntry::Folder { name, path, .. } => name.len() + path.len() + 64,
            FolderEntry::File(a) => {
                a.path.len() + a.pretty_path.len() + a.sha256.len() + a.content_type.len() + a.s3_key.len() + 96
            }
        };
        let key = key.at.folder.as_str().len() + key.at.from.as_ref().map_or(0, |f| f.as_str().len());
        (page.entries.iter().map(entry).sum::<usize>() + key + 128) as u64
    }
}

/// Pages of finished builds' folders: a page of a folder of subfolders costs a query per
/// subfolder (its first row and its count), and a finished build's folders change only with
/// its `listing_version` (a purge, the retention), which is in the key. Bounded in bytes.
pub type FolderCache = Kept<FolderKey, FolderPage, FolderWeight>;

/// Bytes the folder pages kept may take.
const FOLDER_CACHE_BYTES: u64 = 32 << 20;
/// The largest page of a folder: 200 entries of paths of up to 4 KiB, twice (path and
/// pretty path), with their other fields.
const LARGEST_FOLDER_PAGE: u64 = 2 << 20;

impl Default for FolderCache {
    fn default() -> Self {
        Self::new("folders", 8192, FOLDER_CACHE_BYTES, LARGEST_FOLDER_PAGE, FolderWeight)
    }
}

/// A container's folders, a page at a time, from the metadata store's index.
#[derive(Clone)]
pub struct Folders {
    db: Arc<dyn ArtifactStore>,
    cache: FolderCache,
}

impl Folders {
    pub fn new(db: &Db) -> Folders {
        Folders { db: db.artifact_store(), cache: FolderCache::default() }
    }

    /// The subfolders and artifacts directly in a folder (`""` for the top, else ending in
    /// `/`) of one container, a page at a time. It reads ranges of the index, never the whole
    /// folder: a subfolder of 100,000 artifacts costs a count and one row.
    pub async fn browse(&self, build: &Build, at: &FolderPageAt) -> ServiceResult<FolderPage> {
        if !build.status.is_finished() {
            return self.read_folder(build, at).await;
        }
        let key = FolderKey { build_id: build.id, listing_version: build.listing_version, at: at.clone() };
        let page = self.cache.get_or_make(key, async { self.read_folder(build, at).await.map(Some) });
        Ok(FolderPage::clone(&page.await?.expect("a folder page is always made")))
    }

    /// A page of a folder from the metadata store.
    async fn read_folder(&self, build: &Build, at: &FolderPageAt) -> ServiceResult<FolderPage> {
        let FolderPageAt { node, folder, from, limit } = at;
        let (node, limit) = (*node, *limit);
        let folder = folder.as_str();
        let end = folder_end(folder);
        let mut cursor = from.as_ref().map_or(folder, FolderCursor::as_str).to_owned();
        let mut entries = Vec::new();
        // After a subfolder, the next entry is often one too: look one row ahead only.
        let mut ahead = limit;
        while entries.len() < limit {
            let rows = self.db.artifacts_between(build.id, node.0, &cursor, &end, ahead.max(1) as i64).await?;
            let Some(last) = rows.last() else { return Ok(FolderPage { entries, next: None }) };
            let read_all = rows.len() < ahead.max(1);
            let mut last_path = just_after(&last.pretty_path);
            ahead = limit - entries.len();
            for artifact in rows {
                let rest = &artifact.pretty_path[folder.len()..];
                if let Some((name, _)) = rest.split_once('/') {
                    let path = format!("{folder}{name}/");
                    let after_it = folder_end(&path);
                    let count = self.db.count_between(build.id, node.0, &path, &after_it).await?;
                    entries.push(FolderEntry::Folder { name: name.to_owned(), path, count });
                    last_path = after_it;
                    ahead = 1;
                    break;
                }
                entries.push(FolderEntry::File(artifact));
                if entries.len() == limit {
                    break;
                }
            }
            cursor = match entries.last() {
                Some(FolderEntry::File(a)) if ahead != 1 => just_after(&a.pretty_path),
                _ => last_path,
            };
            if read_all && ahead != 1 {
                return Ok(FolderPage { entries, next: None });
            }
        }
        Ok(FolderPage { entries, next: Some(cursor) })
    }
}
