//! Archives as folders. Builds upload thousands of report files as one `.zip` or `.tar.gz`
//! (per-file uploads are slow on every CI); such an artifact opens as a folder, and its files
//! open as artifacts, read from the archive itself, never unpacked into objects:
//!
//! - a zip by ranged reads: its central directory once (kept in memory with what follows it,
//!   in a cache bounded in bytes; stored bytes never change, so an entry never goes stale),
//!   then each entry's own bytes;
//! - a plain tar by one read of its headers, then a ranged read of each file's bytes;
//! - a tar.gz by reading the archive up to the file (gzip cannot be entered in the middle).
//!
//! Names inside an archive are hostile input like any path a build sends: a member whose path
//! (the archive's, a `/`, its name) is not a valid artifact path is left out, so `../`,
//! absolute names and control characters never reach a page or a URL.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use rc_zip_tokio::{HasCursor, ReadZipWithSize};
use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};

use super::artifacts::{FolderEntry, FolderPage, folder_end, guess_content_type, just_after};
use super::{ServiceError, ServiceResult, Vitrine};
use crate::db::{Artifact, DbError};
use crate::domain::{NodeIndex, PrettyPath};
use crate::storage::{Storage, StorageResult};

/// An archive lists at most this many files.
pub const MAX_MEMBERS: usize = 200_000;
/// A zip's central directory (and what follows it) is kept in memory up to this size.
const TAIL_LIMIT: u64 = 32 << 20;
/// What the cache of archive indexes may hold, in bytes (names, offsets, zip tails).
const CACHE_BYTES: u64 = 128 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveKind {
    Zip,
    Tar,
    TarGz,
}

impl ArchiveKind {
    pub fn of(path: &str) -> Option<ArchiveKind> {
        let lower = path.to_ascii_lowercase();
        if lower.ends_with(".zip") {
            Some(ArchiveKind::Zip)
        } else if lower.ends_with(".tar.gz") || lower.ends_with(".tgz") {
            Some(ArchiveKind::TarGz)
        } else if lower.ends_with(".tar") {
            Some(ArchiveKind::Tar)
        } else {
            None
        }
    }
}

/// A file in an archive.
#[derive(Debug, Clone)]
pub struct Member {
    /// Its path in the archive, as shown (`html/index.html`).
    pub name: String,
    /// Its name as the archive spells it (to find it again).
    raw: String,
    pub size: u64,
    /// Plain tar: where its bytes start.
    offset: u64,
}

/// What an archive holds: its files by name.
pub struct ArchiveIndex {
    kind: ArchiveKind,
    members: Vec<Member>,
    /// Files left out: past [`MAX_MEMBERS`], or with a name that is not a valid path.
    pub left_out: usize,
    /// A zip's central directory and all after it: `(offset, bytes)`.
    tail: Option<(u64, Bytes)>,
}

impl ArchiveIndex {
    pub fn member(&self, name: &str) -> Option<&Member> {
        let i = self.members.partition_point(|m| m.name.as_str() < name);
        self.members.get(i).filter(|m| m.name == name)
    }

    /// The members whose names fall in `[from, before)`.
    fn between(&self, from: &str, before: &str) -> &[Member] {
        let start = self.members.partition_point(|m| m.name.as_str() < from);
        let end = self.members.partition_point(|m| m.name.as_str() < before);
        &self.members[start..end.max(start)]
    }

    fn weight(&self) -> u64 {
        let names: usize = self.members.iter().map(|m| m.name.len() + m.raw.len() + 64).sum();
        names as u64 + self.tail.as_ref().map_or(0, |(_, b)| b.len() as u64)
    }
}

#[derive(Clone)]
struct Weigh;

impl quick_cache::Weighter<String, Arc<ArchiveIndex>> for Weigh {
    fn weight(&self, _key: &String, index: &Arc<ArchiveIndex>) -> u64 {
        index.weight().max(1)
    }
}

/// Archive indexes by the S3 key of their archive.
#[derive(Clone)]
pub struct ArchiveCache(Arc<quick_cache::sync::Cache<String, Arc<ArchiveIndex>, Weigh>>);

impl Default for ArchiveCache {
    fn default() -> Self {
        ArchiveCache(Arc::new(quick_cache::sync::Cache::with_weighter(1024, CACHE_BYTES, Weigh)))
    }
}

/// A file of an archive artifact, as it is read.
pub struct ArchiveMember {
    pub archive: Artifact,
    pub member: Member,
    index: Arc<ArchiveIndex>,
}

impl ArchiveMember {
    /// The member as an artifact of the build, for pages and listings: its path is the
    /// archive's, a `/`, its name. It has no object of its own (and no SHA-256).
    pub fn as_artifact(&self) -> Artifact {
        member_artifact(&self.archive, &self.member)
    }
}

fn member_artifact(archive: &Artifact, member: &Member) -> Artifact {
    Artifact {
        id: archive.id,
        node_index: archive.node_index,
        path: format!("{}/{}", archive.path, member.name),
        pretty_path: format!("{}/{}", archive.pretty_path, member.name),
        size: member.size as i64,
        sha256: String::new(),
        content_type: guess_content_type(&member.name),
        s3_key: String::new(),
    }
}

fn unreadable(archive: &Artifact, why: impl std::fmt::Display) -> ServiceError {
    ServiceError::BadRequest(format!("`{}` cannot be read as an archive: {why}", archive.pretty_path))
}

/// A member's shown name, if it may be one: no `./` prefix, and a valid artifact path once
/// under the archive's own.
fn member_name(archive: &Artifact, raw: &str) -> Option<String> {
    let name = raw.trim_start_matches("./");
    if name.is_empty() || name.ends_with('/') {
        return None;
    }
    let wanted = format!("{}/{name}", archive.pretty_path);
    let full: PrettyPath = wanted.parse().ok()?;
    (full.as_str() == wanted).then(|| name.to_owned())
}

impl Vitrine {
    /// The index of an archive artifact, from the cache or read once.
    pub async fn archive_index(&self, archive: &Artifact) -> ServiceResult<Arc<ArchiveIndex>> {
        let kind = ArchiveKind::of(&archive.pretty_path).ok_or_else(|| unreadable(archive, "not an archive type"))?;
        let guard = match self.archives.0.get_value_or_guard_async(&archive.s3_key).await {
            Ok(index) => return Ok(index),
            Err(guard) => guard,
        };
        let index = Arc::new(match kind {
            ArchiveKind::Zip => self.read_zip_index(archive).await?,
            ArchiveKind::Tar | ArchiveKind::TarGz => self.read_tar_index(archive, kind).await?,
        });
        let _ = guard.insert(index.clone());
        Ok(index)
    }

    async fn read_zip_index(&self, archive: &Artifact) -> ServiceResult<ArchiveIndex> {
        let size = archive.size as u64;
        let source = ObjectCursor::new(self.storage.clone(), &archive.s3_key, size, None);
        let zip = source.read_zip_with_size(size).await.map_err(|e| unreadable(archive, e))?;
        let mut members = Vec::new();
        let mut left_out = 0;
        for entry in zip.entries() {
            if !entry.kind().is_file() {
                continue;
            }
            match entry.sanitized_name().and_then(|n| member_name(archive, n)) {
                Some(name) if members.len() < MAX_MEMBERS => {
                    members.push(Member { name, raw: entry.name.clone(), size: entry.uncompressed_size, offset: 0 })
                }
                _ => left_out += 1,
            }
        }
        drop(zip);
        let lowest = source.lowest();
        let tail = if size - lowest <= TAIL_LIMIT {
            Some((lowest, self.storage.read_range(&archive.s3_key, lowest, size).await?))
        } else {
            None
        };
        members.sort_by(|a, b| a.name.cmp(&b.name));
        members.dedup_by(|a, b| a.name == b.name);
        Ok(ArchiveIndex { kind: ArchiveKind::Zip, members, left_out, tail })
    }

    async fn read_tar_index(&self, archive: &Artifact, kind: ArchiveKind) -> ServiceResult<ArchiveIndex> {
        let reader = self.tar_stream(archive, kind).await?;
        let mut tar = tokio_tar::Archive::new(reader);
        let mut entries = tar.entries().map_err(|e| unreadable(archive, e))?;
        let mut members = Vec::new();
        let mut left_out = 0;
        while let Some(entry) = entries.next().await {
            let entry = entry.map_err(|e| unreadable(archive, e))?;
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let raw = String::from_utf8_lossy(&entry.path_bytes().map_err(|e| unreadable(archive, e))?).into_owned();
            match member_name(archive, &raw) {
                Some(name) if members.len() < MAX_MEMBERS => {
                    members.push(Member { name, raw, size: entry.effective_size(), offset: entry.raw_file_position() })
                }
                _ => left_out += 1,
            }
        }
        members.sort_by(|a, b| a.name.cmp(&b.name));
        members.dedup_by(|a, b| a.name == b.name);
        Ok(ArchiveIndex { kind, members, left_out, tail: None })
    }

    /// A tar's bytes from its start, unzipped when it is a tar.gz.
    async fn tar_stream(&self, archive: &Artifact, kind: ArchiveKind) -> ServiceResult<Pin<Box<dyn AsyncRead + Send>>> {
        let object = self.storage.stream(&archive.s3_key).await?;
        let raw = object.body.into_async_read();
        Ok(if kind == ArchiveKind::TarGz {
            let mut gz = async_compression::tokio::bufread::GzipDecoder::new(raw);
            gz.multiple_members(true);
            Box::pin(gz)
        } else {
            Box::pin(raw)
        })
    }

    /// The archive member at `path` of a build's container, when a folder of the path is an
    /// archive artifact that holds it.
    pub async fn archive_member(
        &self,
        build_id: i64,
        node: NodeIndex,
        path: &str,
    ) -> ServiceResult<Option<ArchiveMember>> {
        let Some((archive, index, inner)) = self.archive_around(build_id, node, path).await? else { return Ok(None) };
        Ok(index.member(inner).cloned().map(|member| ArchiveMember { archive, member, index }))
    }

    /// The archive artifact that `path` goes into (`reports/site.zip/...`), with its index and
    /// the rest of the path inside it.
    async fn archive_around<'p>(
        &self,
        build_id: i64,
        node: NodeIndex,
        path: &'p str,
    ) -> ServiceResult<Option<(Artifact, Arc<ArchiveIndex>, &'p str)>> {
        for (i, _) in path.match_indices('/') {
            let (outer, inner) = (&path[..i], &path[i + 1..]);
            if ArchiveKind::of(outer).is_none() {
                continue;
            }
            match self.db.artifact(build_id, node, outer).await {
                Ok(archive) => {
                    let index = self.archive_index(&archive).await?;
                    return Ok(Some((archive, index, inner)));
                }
                Err(DbError::NotFound) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(None)
    }

    /// A folder inside an archive (`reports/site.zip/` or `reports/site.zip/css/`), as
    /// [`Vitrine::browse_folder`] lists one of the build: `None` when `folder` is not in an
    /// archive.
    pub async fn browse_archive(
        &self,
        build_id: i64,
        node: NodeIndex,
        folder: &str,
        from: Option<&str>,
        limit: usize,
    ) -> ServiceResult<Option<FolderPage>> {
        let Some((archive, index, inner)) = self.archive_around(build_id, node, folder).await? else {
            return Ok(None);
        };
        let prefix = &folder[..folder.len() - inner.len()];
        let mut cursor = match from {
            Some(from) if from.starts_with(folder) && from > folder => from[prefix.len()..].to_owned(),
            Some(_) => return Err(ServiceError::BadRequest("This page of the folder does not exist".into())),
            None => inner.to_owned(),
        };
        let end = folder_end(inner);
        let mut entries = Vec::new();
        loop {
            let Some(member) = index.between(&cursor, &end).first() else {
                return Ok(Some(FolderPage { entries, next: None }));
            };
            if entries.len() == limit {
                return Ok(Some(FolderPage { entries, next: Some(format!("{prefix}{cursor}")) }));
            }
            let rest = &member.name[inner.len()..];
            if let Some((name, _)) = rest.split_once('/') {
                let sub = format!("{inner}{name}/");
                let after = folder_end(&sub);
                let count = index.between(&sub, &after).len() as i64;
                entries.push(FolderEntry::Folder { name: name.to_owned(), path: format!("{prefix}{sub}"), count });
                cursor = after;
            } else {
                entries.push(FolderEntry::File(member_artifact(&archive, member)));
                cursor = just_after(&member.name);
            }
        }
    }

    /// A member's bytes, as they are read from the archive.
    pub async fn member_bytes(&self, found: &ArchiveMember) -> ServiceResult<BoxStream<'static, io::Result<Bytes>>> {
        let ArchiveMember { archive, member, index } = found;
        match index.kind {
            ArchiveKind::Tar => {
                let object =
                    self.storage.stream_range(&archive.s3_key, member.offset, member.offset + member.size).await?;
                let body = tokio_util::io::ReaderStream::new(object.body.into_async_read());
                Ok(body.boxed())
            }
            ArchiveKind::Zip | ArchiveKind::TarGz => {
                // The reader borrows what it reads from: it runs in a task of its own, into a pipe.
                let (reader, mut writer) = tokio::io::duplex(256 * 1024);
                let (vitrine, archive, member, index) = (self.clone(), archive.clone(), member.clone(), index.clone());
                tokio::spawn(async move {
                    let copied = match index.kind {
                        ArchiveKind::Zip => vitrine.copy_zip_member(&archive, &member, &index, &mut writer).await,
                        _ => vitrine.copy_tar_member(&archive, &member, &mut writer).await,
                    };
                    if let Err(e) = copied {
                        tracing::info!(error = %e, archive = %archive.pretty_path, member = %member.name, "an archive member was not read to its end");
                    }
                });
                Ok(tokio_util::io::ReaderStream::new(reader).boxed())
            }
        }
    }

    async fn copy_zip_member(
        &self,
        archive: &Artifact,
        member: &Member,
        index: &ArchiveIndex,
        out: &mut tokio::io::DuplexStream,
    ) -> anyhow::Result<()> {
        let size = archive.size as u64;
        let source = ObjectCursor::new(self.storage.clone(), &archive.s3_key, size, index.tail.clone());
        let zip = source.read_zip_with_size(size).await?;
        let entry = zip.by_name(&member.raw).ok_or_else(|| anyhow::anyhow!("no longer in the archive"))?;
        tokio::io::copy(&mut entry.reader(), out).await?;
        Ok(())
    }

    async fn copy_tar_member(
        &self,
        archive: &Artifact,
        member: &Member,
        out: &mut tokio::io::DuplexStream,
    ) -> anyhow::Result<()> {
        let reader = self.tar_stream(archive, ArchiveKind::TarGz).await?;
        let mut tar = tokio_tar::Archive::new(reader);
        let mut entries = tar.entries()?;
        while let Some(entry) = entries.next().await {
            let mut entry = entry?;
            if entry.header().entry_type().is_file() && String::from_utf8_lossy(&entry.path_bytes()?) == member.raw {
                tokio::io::copy(&mut entry, out).await?;
                return Ok(());
            }
        }
        anyhow::bail!("no longer in the archive")
    }

    /// The first `len` bytes of a member (for previews).
    pub async fn member_prefix(&self, found: &ArchiveMember, len: u64) -> ServiceResult<Bytes> {
        let mut bytes = Vec::with_capacity(len.min(found.member.size) as usize);
        let stream = self.member_bytes(found).await?;
        let mut reader = tokio_util::io::StreamReader::new(stream).take(len);
        reader.read_to_end(&mut bytes).await.map_err(|e| ServiceError::Internal(e.into()))?;
        Ok(bytes.into())
    }
}

/// An S3 object read from any offset (a ranged GET from there to its end), or from memory
/// for offsets in a tail read before; notes the lowest offset asked for (where a zip's
/// central directory starts).
struct ObjectCursor {
    storage: Storage,
    key: String,
    size: u64,
    tail: Option<(u64, Bytes)>,
    lowest: Mutex<u64>,
}

impl ObjectCursor {
    fn new(storage: Storage, key: &str, size: u64, tail: Option<(u64, Bytes)>) -> ObjectCursor {
        ObjectCursor { storage, key: key.to_owned(), size, tail, lowest: Mutex::new(size) }
    }

    fn lowest(&self) -> u64 {
        *self.lowest.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl HasCursor for ObjectCursor {
    type Cursor<'a> = Cursor;

    fn cursor_at(&self, offset: u64) -> Cursor {
        {
            let mut lowest = self.lowest.lock().unwrap_or_else(|e| e.into_inner());
            *lowest = (*lowest).min(offset);
        }
        if let Some((start, bytes)) = &self.tail
            && offset >= *start
        {
            let from = ((offset - start) as usize).min(bytes.len());
            return Cursor::Memory(io::Cursor::new(bytes.slice(from..)));
        }
        let (storage, key, size) = (self.storage.clone(), self.key.clone(), self.size);
        Cursor::Opening(Box::pin(async move {
            let object: StorageResult<_> = storage.stream_range(&key, offset, size).await;
            let reader: Pin<Box<dyn AsyncRead + Send>> = Box::pin(object?.body.into_async_read());
            Ok(reader)
        }))
    }
}

enum Cursor {
    Memory(io::Cursor<Bytes>),
    Opening(BoxFuture<'static, StorageResult<Pin<Box<dyn AsyncRead + Send>>>>),
    Reading(Pin<Box<dyn AsyncRead + Send>>),
}

impl AsyncRead for Cursor {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        loop {
            match &mut *self {
                Cursor::Memory(bytes) => return Pin::new(bytes).poll_read(cx, buf),
                Cursor::Reading(reader) => return reader.as_mut().poll_read(cx, buf),
                Cursor::Opening(opening) => {
                    let reader = ready!(opening.as_mut().poll(cx)).map_err(io::Error::other)?;
                    *self = Cursor::Reading(reader);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(path: &str) -> Artifact {
        Artifact {
            id: 1,
            node_index: 0,
            path: path.into(),
            pretty_path: path.into(),
            size: 0,
            sha256: String::new(),
            content_type: "application/zip".into(),
            s3_key: "b/x".into(),
        }
    }

    #[test]
    fn hostile_member_names_are_left_out() {
        let a = archive("reports/site.zip");
        assert_eq!(member_name(&a, "index.html").as_deref(), Some("index.html"));
        assert_eq!(member_name(&a, "./css/a.css").as_deref(), Some("css/a.css"));
        for bad in ["../../etc/passwd", "a/../../b", "dir/", "", "a\u{0}b", "a//b", "x\u{202e}gpj.exe"] {
            assert_eq!(member_name(&a, bad), None, "{bad:?}");
        }
    }

    #[test]
    fn archive_kinds_by_name() {
        assert_eq!(ArchiveKind::of("r/site.ZIP"), Some(ArchiveKind::Zip));
        assert_eq!(ArchiveKind::of("r/site.tar.gz"), Some(ArchiveKind::TarGz));
        assert_eq!(ArchiveKind::of("r/site.tgz"), Some(ArchiveKind::TarGz));
        assert_eq!(ArchiveKind::of("r/site.tar"), Some(ArchiveKind::Tar));
        assert_eq!(ArchiveKind::of("r/site.gz"), None);
    }
}
