//! One-time import of a data directory written by earlier versions, which stored objects with
//! s3s-fs: `<data-dir>/s3/vitrine/<key>` files, content types in `<data-dir>/s3/.bucket-*.object-*
//! .metadata.json`. Each file becomes an object of the store and is then removed, so an
//! interrupted import resumes; finally `<data-dir>/s3` (by then only s3s-fs's own dot-files) is
//! renamed to `s3.imported` and the import never runs again.

use std::path::{Component, Path};

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::BUCKET;
use super::store::{FsStore, import_file};

pub(super) fn import_s3s_fs(data_dir: &Path, store: &FsStore) -> anyhow::Result<()> {
    let old = data_dir.join("s3");
    let bucket_dir = old.join(BUCKET);
    if !bucket_dir.is_dir() {
        return Ok(());
    }
    let mut count = 0u64;
    let mut dirs = vec![bucket_dir.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).with_context(|| format!("cannot read {}", dir.display()))? {
            let entry = entry.with_context(|| format!("cannot read {}", dir.display()))?;
            let (path, file_type) = (entry.path(), entry.file_type()?);
            if file_type.is_dir() {
                dirs.push(path);
                continue;
            }
            if !file_type.is_file() {
                continue;
            }
            let relative = path.strip_prefix(&bucket_dir)?;
            let parts: Option<Vec<&str>> = relative
                .components()
                .map(|c| match c {
                    Component::Normal(name) => name.to_str(),
                    _ => None,
                })
                .collect();
            let Some(key) = parts.map(|p| p.join("/")) else {
                tracing::warn!(path = %path.display(), "embedded S3 import: skipping a file with a non-UTF-8 name");
                continue;
            };
            import_file(store, BUCKET, &key, &path, content_type(&old, &key))
                .with_context(|| format!("cannot import {}", path.display()))?;
            std::fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
            count += 1;
        }
    }
    let mut target = data_dir.join("s3.imported");
    for n in 1.. {
        if !target.exists() {
            break;
        }
        target = data_dir.join(format!("s3.imported.{n}"));
    }
    std::fs::rename(&old, &target).with_context(|| format!("cannot rename {} after importing it", old.display()))?;
    tracing::info!(count, from = %old.display(), moved_to = %target.display(), "embedded S3: imported the s3s-fs store");
    Ok(())
}

/// The content type s3s-fs recorded for the object, if any.
fn content_type(old: &Path, key: &str) -> Option<String> {
    let name =
        format!(".bucket-{}.object-{}.metadata.json", URL_SAFE_NO_PAD.encode(BUCKET), URL_SAFE_NO_PAD.encode(key));
    let text = std::fs::read(old.join(name)).ok()?;
    let value: serde_json::Value = serde_json::from_slice(&text).ok()?;
    value.get("content_type")?.as_str().map(str::to_owned)
}
