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

pub mod tar;
pub mod zip;

use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::io::AsyncReadExt;
use tokio_util::io::SyncIoBridge;

use super::content::guess_content_type;
use super::error::{ServiceError, ServiceResult};
use super::folders::{FolderEntry, FolderPage, FolderPageAt, folder_end, just_after};
use super::untrusted::{Budget, Exceeded, HeavyWork, Limits, Work};
use crate::domain::{NodeIndex, PrettyPath};
use crate::storage::Storage;
use vitrine_store::{Artifact, ArtifactStore, BuildId, Db, DbError};

pub use tar::{TarError, TarFile};
pub use zip::{ZipError, ZipFile, ZipPlace};

/// An archive lists at most this many files.
pub const MAX_MEMBERS: usize = 200_000;
/// How many archive-looking folders of one path are looked up as artifacts.
const MAX_ARCHIVE_CANDIDATES: usize = 4;
/// A zip's central directory (and its end records) is read up to this size.
const MAX_DIRECTORY_BYTES: u64 = 16 << 20;
/// What an index may hold while it is read (names, offsets).
const INDEX_HELD_BYTES: u64 = 64 << 20;
/// Entries of any kind (directories, links, long-name headers) an index reads at most.
const MAX_ENTRIES: u64 = 2 * MAX_MEMBERS as u64;
/// A tar.gz is inflated up to this many times its size (at least [`MIN_INFLATED`], at most
/// [`MAX_INFLATED`]) while it is indexed or read: a gzip of zeros inflates a thousandfold.
const INFLATION_RATIO: u64 = 100;
const MIN_INFLATED: u64 = 256 << 20;
const MAX_INFLATED: u64 = 8 << 30;
/// Time an index may take (a 3 GiB tar.gz takes some seconds to inflate).
const INDEX_TIME: Duration = Duration::from_secs(60);
/// Time a member may take to be read out (a slow client holds its reader).
const MEMBER_TIME: Duration = Duration::from_secs(600);
/// What the cache of archive indexes may hold, in bytes (names, offsets).
const CACHE_BYTES: u64 = 128 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveKind {
    Zip,
    Tar,
    TarGz,
}

impl ArchiveKind {
    /// By the name's ending alone: constant time whatever the path's length (a caller tries
    /// every prefix of a path).
    pub fn of(path: &str) -> Option<ArchiveKind> {
        let tail = &path.as_bytes()[path.len().saturating_sub(7)..];
        let lower = String::from_utf8_lossy(tail).to_ascii_lowercase();
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
    pub size: u64,
    /// A tar's: where its bytes start in the (uncompressed) tar.
    offset: u64,
    /// A zip's: where and how it is stored.
    zip: Option<ZipPlace>,
}

/// What an archive holds: its files by name.
pub struct ArchiveIndex {
    kind: ArchiveKind,
    members: Vec<Member>,
    /// Files left out: past [`MAX_MEMBERS`], or with a name that is not a valid path.
    pub left_out: usize,
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
        let names: usize = self.members.iter().map(|m| m.name.len() + std::mem::size_of::<Member>()).sum();
        names as u64 + 64
    }

    fn sorted(kind: ArchiveKind, mut members: Vec<Member>, left_out: usize) -> ArchiveIndex {
        members.sort_by(|a, b| a.name.cmp(&b.name));
        members.dedup_by(|a, b| a.name == b.name);
        ArchiveIndex { kind, members, left_out }
    }
}

/// An archive's index, or why it cannot be read: both are kept (stored bytes never change,
/// so a hostile archive costs its reading once).
pub type Indexed = super::lookups::Refusable<Arc<ArchiveIndex>>;

#[derive(Clone)]
pub struct Weigh;

impl quick_cache::Weighter<String, Arc<Indexed>> for Weigh {
    fn weight(&self, key: &String, indexed: &Arc<Indexed>) -> u64 {
        key.len() as u64
            + match &**indexed {
                Ok(index) => index.weight(),
                Err(why) => why.len() as u64 + 64,
            }
    }
}

/// Archive indexes (and refusals) by the S3 key of their archive.
pub type ArchiveCache = super::lookups::Kept<String, Indexed, Weigh>;

impl Default for ArchiveCache {
    fn default() -> Self {
        // The largest index: MAX_MEMBERS names of a few hundred bytes.
        Self::new("archives", 1024, CACHE_BYTES, 64 << 20, Weigh)
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

    /// What its content is kept under: its archive's object and its name.
    pub fn content_key(&self) -> String {
        format!("{}/{}", self.archive.s3_key, self.member.name)
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

fn unreadable(archive: &Artifact, why: impl std::fmt::Display) -> String {
    format!("`{}` cannot be opened as a folder: {why}", archive.pretty_path)
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

/// How much of a tar.gz may be inflated.
fn inflation_limit(compressed: u64) -> u64 {
    compressed.saturating_mul(INFLATION_RATIO).clamp(MIN_INFLATED, MAX_INFLATED)
}

/// A tar's object, to be read on the blocking pool (a gzip decoder reads its header as soon as
/// it is made).
struct TarInput {
    raw: SyncIoBridge<std::pin::Pin<Box<dyn tokio::io::AsyncRead + Send>>>,
    gzipped: bool,
}

impl TarInput {
    fn reader(self) -> Box<dyn io::Read + Send> {
        if self.gzipped {
            Box::new(flate2::read::MultiGzDecoder::new(io::BufReader::with_capacity(64 << 10, self.raw)))
        } else {
            Box::new(self.raw)
        }
    }
}

/// What an index reader's end means: an index, a refusal to keep, or an error that says
/// nothing of the archive (the store failed, the caller left) and is not kept.
enum Outcome {
    Kept(Indexed),
    Passing(ServiceError),
}

fn budget_outcome(archive: &Artifact, e: Exceeded) -> Outcome {
    match e {
        Exceeded::Cancelled => {
            Outcome::Passing(ServiceError::Unavailable("The archive was not read to its end".into()))
        }
        e => Outcome::Kept(Err(unreadable(archive, e))),
    }
}

/// An I/O error while reading an archive: damaged bytes are the archive's; anything else
/// (the store's connection) is passing.
fn io_outcome(archive: &Artifact, e: io::Error) -> Outcome {
    match e.kind() {
        io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput | io::ErrorKind::UnexpectedEof => {
            Outcome::Kept(Err(unreadable(archive, e)))
        }
        _ => Outcome::Passing(ServiceError::Internal(e.into())),
    }
}

/// Archive artifacts read as folders: their indexes, kept by object, and their members.
#[derive(Clone)]
pub struct Archives {
    db: Arc<dyn ArtifactStore>,
    storage: Storage,
    heavy: HeavyWork,
    /// What archive artifacts hold, read once each.
    indexes: ArchiveCache,
}

impl Archives {
    pub fn new(db: &Db, storage: Storage, heavy: HeavyWork) -> Archives {
        Archives { db: db.artifact_store(), storage, heavy, indexes: ArchiveCache::default() }
    }

    /// The index of an archive artifact, from the cache or read once (a refusal too).
    pub async fn archive_index(&self, archive: &Artifact) -> ServiceResult<Arc<ArchiveIndex>> {
        let kind = ArchiveKind::of(&archive.pretty_path)
            .ok_or_else(|| ServiceError::BadRequest(unreadable(archive, "it is not an archive type")))?;
        let indexed = self
            .indexes
            .get_or_make(archive.s3_key.clone(), async {
                let outcome = match kind {
                    ArchiveKind::Zip => self.read_zip_index(archive).await?,
                    ArchiveKind::Tar | ArchiveKind::TarGz => self.read_tar_index(archive, kind).await?,
                };
                match outcome {
                    Outcome::Kept(indexed) => Ok(Some(indexed)),
                    Outcome::Passing(e) => Err(e),
                }
            })
            .await?
            .expect("an index is always made");
        super::lookups::answer(&indexed)
    }

    fn index_budget(read: u64) -> Budget {
        Budget::new(Limits { read, held: INDEX_HELD_BYTES, output: 0, elements: MAX_ENTRIES, time: INDEX_TIME })
    }

    async fn read_zip_index(&self, archive: &Artifact) -> ServiceResult<Outcome> {
        let _permit = self.heavy.permit(Work::Index)?;
        let size = archive.size.max(0) as u64;
        // The end records (up to 64 KiB of comment) and the central directory.
        let mut budget = Self::index_budget(MAX_DIRECTORY_BYTES + (128 << 10));
        let open = |offset| zip::open_stored(&self.storage, &archive.s3_key, size, offset);
        let files = match zip::read_index(open, size, &mut budget).await {
            Ok(files) => files,
            Err(ZipError::Invalid(why)) => return Ok(Outcome::Kept(Err(unreadable(archive, why)))),
            Err(ZipError::Budget(Exceeded::Read(_))) => {
                return Ok(Outcome::Kept(Err(unreadable(
                    archive,
                    format!("its central directory is larger than {} MiB", MAX_DIRECTORY_BYTES >> 20),
                ))));
            }
            Err(ZipError::Budget(e)) => return Ok(budget_outcome(archive, e)),
            Err(ZipError::Io(e)) => return Ok(io_outcome(archive, e)),
            Err(ZipError::Storage(e)) => return Err(e.into()),
        };
        let mut members = Vec::with_capacity(files.len().min(MAX_MEMBERS));
        let mut left_out = 0;
        for file in files {
            match member_name(archive, &file.name) {
                Some(name) if members.len() < MAX_MEMBERS => {
                    members.push(Member { name, size: file.size, offset: 0, zip: Some(file.place) });
                }
                _ => left_out += 1,
            }
        }
        Ok(Outcome::Kept(Ok(Arc::new(ArchiveIndex::sorted(ArchiveKind::Zip, members, left_out)))))
    }

    /// A tar's headers, read from its start on the blocking pool (inflated there too).
    async fn read_tar_index(&self, archive: &Artifact, kind: ArchiveKind) -> ServiceResult<Outcome> {
        let permit = self.heavy.permit(Work::Index)?;
        let size = archive.size.max(0) as u64;
        let read = if kind == ArchiveKind::TarGz { inflation_limit(size) } else { size.saturating_add(1024) };
        let input = self.tar_input(archive, kind).await?;
        let archive = archive.clone();
        let outcome = self
            .heavy
            .blocking(permit, Self::index_budget(read), move |budget| {
                let mut members = Vec::new();
                let mut left_out = 0;
                let scanned = tar::scan(input.reader(), budget, |file, budget| {
                    match file.name.and_then(|name| member_name(&archive, &name)) {
                        Some(name) if members.len() < MAX_MEMBERS => {
                            budget.hold(name.len() + std::mem::size_of::<Member>())?;
                            members.push(Member { name, size: file.size, offset: file.offset, zip: None });
                        }
                        _ => left_out += 1,
                    }
                    Ok(())
                });
                match scanned {
                    // Past the entries an index reads: the ones read are listed, the rest left out.
                    Ok(()) | Err(TarError::Budget(Exceeded::Elements(_))) => {
                        Outcome::Kept(Ok(Arc::new(ArchiveIndex::sorted(kind, members, left_out))))
                    }
                    Err(TarError::Invalid(why)) => Outcome::Kept(Err(unreadable(&archive, why))),
                    Err(TarError::Budget(e)) => budget_outcome(&archive, e),
                    Err(TarError::Io(e)) => io_outcome(&archive, e),
                }
            })
            .await?;
        Ok(outcome)
    }

    /// A tar's bytes from its start, inflated when it is a tar.gz: a blocking reader, made
    /// (and read) on the blocking pool only.
    async fn tar_input(&self, archive: &Artifact, kind: ArchiveKind) -> ServiceResult<TarInput> {
        let object = self.storage.stream(&archive.s3_key).await?;
        Ok(TarInput {
            raw: SyncIoBridge::new(Box::pin(object.body.into_async_read())),
            gzipped: kind == ArchiveKind::TarGz,
        })
    }

    /// The archive member at `path` of a build's container, when a folder of the path is an
    /// archive artifact that holds it.
    pub async fn archive_member(
        &self,
        build_id: BuildId,
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
        build_id: BuildId,
        node: NodeIndex,
        path: &'p str,
    ) -> ServiceResult<Option<(Artifact, Arc<ArchiveIndex>, &'p str)>> {
        // Each candidate costs a lookup: a path of many `x.zip/` segments gets a few, not one
        // per segment (archives hold no archives that open as folders anyway).
        let candidates = path.match_indices('/').map(|(i, _)| i).filter(|&i| ArchiveKind::of(&path[..i]).is_some());
        for i in candidates.take(MAX_ARCHIVE_CANDIDATES) {
            let (outer, inner) = (&path[..i], &path[i + 1..]);
            match self.db.artifact(build_id, node, outer).await {
                Ok(archive) => {
                    let index = self.archive_index(&archive).await?;
                    return Ok(Some((archive, index, inner)));
                }
                Err(DbError::NotFound) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(None)
    }

    /// A folder inside an archive (`reports/site.zip/` or `reports/site.zip/css/`), as
    /// [`Folders::browse`] lists one of the build: `None` when the folder is not in an archive.
    pub async fn browse_archive(&self, build_id: BuildId, at: &FolderPageAt) -> ServiceResult<Option<FolderPage>> {
        let FolderPageAt { node, folder, from, limit } = at;
        let (folder, limit) = (folder.as_str(), *limit);
        let Some((archive, index, inner)) = self.archive_around(build_id, *node, folder).await? else {
            return Ok(None);
        };
        let prefix = &folder[..folder.len() - inner.len()];
        let mut cursor = from.as_ref().map_or(inner, |from| &from.as_str()[prefix.len()..]).to_owned();
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

    /// A member's bytes, as they are read from the archive: a plain tar's by a ranged read,
    /// the others inflated on the blocking pool (a few at a time, [`Work::Inflate`]) into a
    /// pipe, and no further than the member's size.
    pub async fn member_bytes(&self, found: &ArchiveMember) -> ServiceResult<BoxStream<'static, io::Result<Bytes>>> {
        let ArchiveMember { archive, member, index } = found;
        let size = archive.size.max(0) as u64;
        let (input, zip): (Box<dyn FnOnce() -> Box<dyn io::Read + Send> + Send>, _) = match (index.kind, member.zip) {
            (ArchiveKind::Tar, _) => {
                let object =
                    self.storage.stream_range(&archive.s3_key, member.offset, member.offset + member.size).await?;
                return Ok(tokio_util::io::ReaderStream::new(object.body.into_async_read()).boxed());
            }
            (ArchiveKind::Zip, Some(place)) => {
                let end = zip::member_end(&place, size);
                let object = self.storage.stream_range(&archive.s3_key, place.header_offset, end).await?;
                let raw = SyncIoBridge::new(object.body.into_async_read());
                (Box::new(move || Box::new(raw) as Box<dyn io::Read + Send>), Some(place))
            }
            (ArchiveKind::Zip, None) => {
                return Err(ServiceError::internal(anyhow::anyhow!("a zip member without its place")));
            }
            (ArchiveKind::TarGz, _) => {
                let input = self.tar_input(archive, ArchiveKind::TarGz).await?;
                (Box::new(move || input.reader()), None)
            }
        };
        let permit = self.heavy.permit(Work::Inflate)?;
        let (reader, writer) = tokio::io::duplex(256 * 1024);
        let mut out = SyncIoBridge::new(writer);
        let read = match zip {
            Some(place) => place.compressed_size.saturating_add(256 << 10),
            None => inflation_limit(size).max(member.offset.saturating_add(member.size)),
        };
        let budget = Budget::new(Limits { read, held: 0, output: member.size, elements: 0, time: MEMBER_TIME });
        let (heavy, member, name) = (self.heavy.clone(), member.clone(), archive.pretty_path.clone());
        // The reading goes on while the pipe is read; the stream ends early if it fails.
        tokio::spawn(async move {
            let copied = heavy
                .blocking(permit, budget, move |budget| match zip {
                    Some(place) => {
                        let mut input = input();
                        zip::copy_member(&place, member.size, &mut input, &mut out, budget)
                            .map_err(|e| format!("{e:?}"))?;
                        // The rest of the range asked for (what may follow the member's data, up
                        // to a local header's largest): read out, so that the connection to the
                        // store is kept for the next read instead of being dropped mid-answer.
                        io::copy(&mut io::Read::take(&mut input, zip::MEMBER_SLACK), &mut io::sink())
                            .map(drop)
                            .map_err(|e| e.to_string())
                    }
                    None => tar::copy_file(input(), member.offset, member.size, &mut out, budget)
                        .map_err(|e| format!("{e:?}")),
                })
                .await;
            if let Ok(Err(e)) | Err(e) = copied.map_err(|e| e.to_string()) {
                tracing::info!(error = %e, archive = %name, "an archive member was not read to its end");
            }
        });
        Ok(tokio_util::io::ReaderStream::new(reader).boxed())
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
