//! Folders of a build's artifacts, as the Artifacts tab pages through them: a page's entries,
//! and the bounds of a folder in path order.

use vitrine_store::Artifact;

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
