//! What the build page shows of an artifact without leaving it: the first MiB of a text or a
//! log with its ANSI colours, JSON pretty-printed, a JUnit report as a table of test cases
//! (failures first); anything else is offered as a download with its size and SHA-256.
//!
//! Everything here reads bytes a build uploaded: hostile input. Reads are bounded (a prefix of
//! the object), each reader (`ansi`, `json`, `junit`) works within an untrusted-content
//! [`Budget`] and stops where it runs out, parsers never fetch anything (no external XML
//! entities), and the output is plain data that the page renders as text, never as markup.
//! Previews run a few at a time ([`Work::Parse`]) and are kept by the object (and member) they
//! were made from: stored bytes never change, so a hostile file costs its work once.

mod ansi;
mod json;
mod junit;

use std::sync::Arc;
use std::time::Duration;

pub use ansi::{StyledRun, ansi_runs};
pub use json::{PrettyJson, pretty_json};
pub use junit::{JUnitReport, MAX_CASES as JUNIT_MAX_CASES, TestCase, parse_junit, read_test_results};

use super::archives::Archives;
use super::artifacts::Readable;
use super::content::is_active_content;
use super::error::ServiceResult;
use super::untrusted::{Budget, HeavyWork, Limits, Work};
use crate::storage::Storage;
use vitrine_store::Artifact;

/// How much of a text or a log is shown in the page.
pub const TEXT_PREVIEW_BYTES: u64 = 1 << 20;
/// JSON up to this size is pretty-printed (larger: shown as text, its first MiB).
pub const JSON_PREVIEW_BYTES: u64 = 1 << 20;
/// JUnit reports up to this size are read as a table.
pub const JUNIT_PREVIEW_BYTES: u64 = 8 << 20;
/// A preview is at most this many times the bytes it was made from.
pub const OUTPUT_RATIO: u64 = 4;
/// What a JUnit table may hold while it is read.
const JUNIT_HELD_BYTES: u64 = 32 << 20;
/// Test cases read at most (past the ones kept, they are only counted).
const JUNIT_MAX_READ_CASES: u64 = 1_000_000;
/// Time a preview may take.
const PREVIEW_TIME: Duration = Duration::from_secs(2);
/// What the kept previews may take, in bytes of their text.
const CACHE_BYTES: u64 = 64 << 20;

#[derive(Debug, Clone, PartialEq)]
pub enum Preview {
    /// Text or a log: styled runs of its first bytes (`shown` of them, valid UTF-8).
    Text {
        runs: Vec<StyledRun>,
        shown: u64,
        truncated: bool,
    },
    /// JSON, pretty-printed with its keys in their order.
    Json(PrettyJson),
    JUnit(JUnitReport),
    /// Shown as an image.
    Image,
    /// An HTML page: opened on the artifacts origin, sandboxed.
    Page,
    /// Offered as a download.
    Download,
}

impl Preview {
    /// Roughly what it takes in memory.
    fn weight(&self) -> u64 {
        let bytes = match self {
            Preview::Text { runs, .. } => runs.iter().map(|r| r.text.len() + 48).sum(),
            Preview::Json(json) => json.text.len(),
            Preview::JUnit(report) => report.cases.iter().map(TestCase::weight).sum(),
            Preview::Image | Preview::Page | Preview::Download => 0,
        };
        bytes as u64 + 256
    }
}

#[derive(Clone)]
pub struct PreviewWeight;

impl quick_cache::Weighter<String, Arc<Preview>> for PreviewWeight {
    fn weight(&self, key: &String, preview: &Arc<Preview>) -> u64 {
        key.len() as u64 + preview.weight()
    }
}

/// Previews by the object they were read from (and the member, in an archive).
pub type PreviewCache = super::lookups::Kept<String, Preview, PreviewWeight>;

impl Default for PreviewCache {
    fn default() -> Self {
        Self::new("previews", 4096, CACHE_BYTES, JUNIT_HELD_BYTES + 1024, PreviewWeight)
    }
}

fn limits(read: u64, output: u64) -> Limits {
    Limits { read, held: output, output, elements: u64::MAX, time: PREVIEW_TIME }
}

/// How the preview of an artifact is made, from its type and name alone (before reading).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Json,
    Xml,
    Image,
    Page,
    Download,
}

/// Types and names that are text, though not `text/*`.
const TEXT_TYPES: &[&str] = &[
    "application/javascript",
    "application/x-sh",
    "application/toml",
    "application/yaml",
    "application/x-yaml",
    "application/sql",
    "application/x-httpd-php",
];
const TEXT_EXTENSIONS: &[&str] = &[
    "log",
    "txt",
    "out",
    "err",
    "md",
    "yml",
    "yaml",
    "toml",
    "ini",
    "cfg",
    "conf",
    "csv",
    "tsv",
    "diff",
    "patch",
    "sh",
    "rs",
    "py",
    "ts",
    "go",
    "java",
    "kt",
    "rb",
    "c",
    "h",
    "cpp",
    "lock",
    "env",
    "properties",
    "gradle",
    "tap",
];

fn kind_of(artifact: &Artifact) -> Kind {
    let ct = artifact.content_type.to_ascii_lowercase();
    let essence = ct.split(';').next().unwrap_or("").trim();
    let extension = artifact.pretty_path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    if essence == "text/html" || essence == "application/xhtml+xml" {
        Kind::Page
    } else if essence.starts_with("image/") {
        Kind::Image
    } else if essence == "application/json" || extension == "json" {
        Kind::Json
    } else if essence.ends_with("/xml") || extension == "xml" {
        Kind::Xml
    } else if essence.starts_with("text/")
        || TEXT_TYPES.contains(&essence)
        || TEXT_EXTENSIONS.contains(&&*extension)
        || is_active_content(essence)
    {
        Kind::Text
    } else {
        Kind::Download
    }
}

/// Previews of opened files, made once each from the object they read.
#[derive(Clone)]
pub struct Previews {
    storage: Storage,
    archives: Archives,
    heavy: HeavyWork,
    /// Previews kept, by the object they were made from.
    cache: PreviewCache,
}

impl Previews {
    pub fn new(storage: Storage, archives: Archives, heavy: HeavyWork) -> Previews {
        Previews { storage, archives, heavy, cache: PreviewCache::default() }
    }

    /// The first `len` bytes of an artifact, stored or in an archive.
    async fn prefix(&self, readable: &Readable, len: u64) -> ServiceResult<bytes::Bytes> {
        match readable {
            Readable::Stored(artifact) => Ok(self.storage.read_prefix(&artifact.s3_key, len).await?),
            Readable::Member(member) => self.archives.member_prefix(member, len).await,
        }
    }

    /// The preview of an artifact the caller may read (checked by the caller): kept, or
    /// made once.
    pub async fn preview(&self, readable: &Readable) -> ServiceResult<Arc<Preview>> {
        let artifact = readable.artifact();
        let kind = kind_of(&artifact);
        match kind {
            Kind::Image => return Ok(Arc::new(Preview::Image)),
            Kind::Page => return Ok(Arc::new(Preview::Page)),
            Kind::Download => return Ok(Arc::new(Preview::Download)),
            Kind::Text | Kind::Json | Kind::Xml => {}
        }
        let key = readable.content_key();
        let made = self.cache.get_or_make(key, async { self.make_preview(readable, &artifact, kind).await.map(Some) });
        Ok(made.await?.expect("a preview is always made"))
    }

    async fn make_preview(&self, readable: &Readable, artifact: &Artifact, kind: Kind) -> ServiceResult<Preview> {
        let size = artifact.size.max(0) as u64;
        // The permit first: what waits for it holds no bytes.
        let permit = self.heavy.permit(Work::Parse)?;
        // What is read, the report's own limits (`None`: a preview's, by what was read), the reader.
        type Parse = fn(&[u8], u64, &mut Budget) -> Preview;
        let (read, report, parse): (u64, Option<Limits>, Parse) = match kind {
            Kind::Json if size <= JSON_PREVIEW_BYTES => {
                (size, None, |bytes, size, budget| match pretty_json(bytes, budget) {
                    Some(json) => Preview::Json(json),
                    None => text_preview(bytes, size, budget),
                })
            }
            Kind::Xml if size <= JUNIT_PREVIEW_BYTES => {
                let report = Limits {
                    read: JUNIT_PREVIEW_BYTES,
                    held: JUNIT_HELD_BYTES,
                    output: JUNIT_HELD_BYTES,
                    elements: JUNIT_MAX_READ_CASES,
                    time: PREVIEW_TIME,
                };
                (size, Some(report), |bytes, size, budget| {
                    if let Some(report) = parse_junit(bytes, budget) {
                        Preview::JUnit(report)
                    } else {
                        let prefix = &bytes[..bytes.len().min(TEXT_PREVIEW_BYTES as usize)];
                        let mut budget = Budget::new(limits(TEXT_PREVIEW_BYTES, OUTPUT_RATIO * prefix.len() as u64));
                        text_preview(prefix, size, &mut budget)
                    }
                })
            }
            _ => (size.min(TEXT_PREVIEW_BYTES), None, text_preview),
        };
        let bytes = self.prefix(readable, read).await?;
        let budget = Budget::new(report.unwrap_or_else(|| limits(read, OUTPUT_RATIO * bytes.len() as u64)));
        self.heavy.blocking(permit, budget, move |budget| parse(&bytes, size, budget)).await
    }
}

/// The first bytes of a text as styled runs, up to where its budget ran out; bytes that are
/// not text (a NUL) make it a download instead.
fn text_preview(bytes: &[u8], size: u64, budget: &mut Budget) -> Preview {
    if bytes.contains(&0) {
        return Preview::Download;
    }
    // A prefix may end inside a character: show up to the last whole one.
    let valid = match std::str::from_utf8(bytes) {
        Err(e) if e.error_len().is_none() => &bytes[..e.valid_up_to()],
        Ok(_) | Err(_) => bytes,
    };
    let (runs, stopped) = ansi_runs(valid, budget);
    let shown = stopped.map_or(valid.len(), |(at, _)| at) as u64;
    Preview::Text { runs, shown, truncated: shown < size }
}
