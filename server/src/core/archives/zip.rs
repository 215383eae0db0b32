//! Zip archives, read by ranged reads: the central directory once, within a budget (its bytes
//! are counted as they are read, so a directory that claims gigabytes is refused at the limit,
//! before it is parsed whole), then each member from its local header on, inflated on the
//! blocking pool from what the index kept of it. Nothing is parsed twice.

use std::io::{self, Read, Write};
use std::pin::Pin;

use rc_zip_tokio::rc_zip::Entry;
use rc_zip_tokio::rc_zip::fsm::{ArchiveFsm, EntryFsm, FsmResult};
use rc_zip_tokio::rc_zip::parse::{Method, Mode, Version};
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::core::untrusted::{Budget, Exceeded};
use crate::storage::Storage;

/// What the index keeps of a zip member to read it again without the central directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZipPlace {
    pub header_offset: u64,
    pub compressed_size: u64,
    pub crc32: u32,
    pub method: Method,
    pub flags: u16,
    pub reader_version: Version,
}

/// A file of the archive, as its central directory gives it.
#[derive(Debug, Clone)]
pub struct ZipFile {
    /// As the archive spells it.
    pub name: String,
    pub size: u64,
    pub place: ZipPlace,
}

#[derive(Debug)]
pub enum ZipError {
    Invalid(String),
    Budget(Exceeded),
    Storage(crate::storage::StorageError),
    Io(io::Error),
}

impl From<Exceeded> for ZipError {
    fn from(e: Exceeded) -> Self {
        ZipError::Budget(e)
    }
}

impl From<io::Error> for ZipError {
    fn from(e: io::Error) -> Self {
        ZipError::Io(e)
    }
}

impl From<crate::storage::StorageError> for ZipError {
    fn from(e: crate::storage::StorageError) -> Self {
        ZipError::Storage(e)
    }
}

fn invalid(e: rc_zip_tokio::rc_zip::Error) -> ZipError {
    match e {
        rc_zip_tokio::rc_zip::Error::IO(e) => ZipError::Io(e),
        other => ZipError::Invalid(other.to_string()),
    }
}

/// A zip's bytes from an offset to its end.
pub type Opened = Pin<Box<dyn AsyncRead + Send>>;

/// The zip stored under `key` in `storage`, read from `offset` on.
pub async fn open_stored(storage: &Storage, key: &str, size: u64, offset: u64) -> Result<Opened, ZipError> {
    let object = storage.stream_range(key, offset, size).await?;
    Ok(Box::pin(object.body.into_async_read()))
}

/// The files of a zip of `size` bytes that `open` reads from any offset: its end record and
/// central directory, each byte counted against `budget`, each entry an element.
pub async fn read_index<F, Fut>(open: F, size: u64, budget: &mut Budget) -> Result<Vec<ZipFile>, ZipError>
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = Result<Opened, ZipError>>,
{
    let mut fsm = ArchiveFsm::new(size);
    let mut cursor: Option<(u64, Opened)> = None;
    let archive = loop {
        if let Some(offset) = fsm.wants_read() {
            let (at, mut reader) = match cursor.take() {
                Some((at, reader)) if at == offset => (at, reader),
                _ => {
                    if offset >= size {
                        return Err(ZipError::Invalid("it points past its own end".into()));
                    }
                    (offset, open(offset).await?)
                }
            };
            let read = reader.read(fsm.space()).await?;
            if read == 0 {
                return Err(ZipError::Invalid("it ends before its central directory does".into()));
            }
            budget.read(read)?;
            fsm.fill(read);
            cursor = Some((at + read as u64, reader));
        }
        fsm = match fsm.process().map_err(invalid)? {
            FsmResult::Done(archive) => break archive,
            FsmResult::Continue(fsm) => fsm,
        };
    };
    let mut files = Vec::new();
    for entry in archive.entries() {
        budget.element()?;
        if !entry.kind().is_file() {
            continue;
        }
        budget.hold(entry.name.len() + std::mem::size_of::<ZipFile>())?;
        files.push(ZipFile {
            name: entry.name.clone(),
            size: entry.uncompressed_size,
            place: ZipPlace {
                header_offset: entry.header_offset,
                compressed_size: entry.compressed_size,
                crc32: entry.crc32,
                method: entry.method,
                flags: entry.flags,
                reader_version: entry.reader_version,
            },
        });
    }
    Ok(files)
}

/// What a member's bytes take besides its compressed data, at most: its local header (30
/// bytes, a name and an extra field of up to 64 KiB each) and a data descriptor.
pub const MEMBER_SLACK: u64 = 30 + 2 * 65_535 + 24;

/// Where a member's bytes may end.
pub fn member_end(place: &ZipPlace, archive_size: u64) -> u64 {
    place.header_offset.saturating_add(MEMBER_SLACK).saturating_add(place.compressed_size).min(archive_size)
}

/// Inflates one member from `input` (the archive from the member's local header on) into
/// `out`, checking its size and CRC-32 as it ends; the bytes written count as output.
pub fn copy_member(
    place: &ZipPlace,
    size: u64,
    mut input: impl Read,
    out: &mut impl Write,
    budget: &mut Budget,
) -> Result<(), ZipError> {
    let entry = Entry {
        name: String::new(),
        method: place.method,
        comment: String::new(),
        modified: Default::default(),
        created: None,
        accessed: None,
        header_offset: place.header_offset,
        reader_version: place.reader_version,
        flags: place.flags,
        uid: None,
        gid: None,
        crc32: place.crc32,
        compressed_size: place.compressed_size,
        uncompressed_size: size,
        mode: Mode(0o644),
    };
    let mut fsm = EntryFsm::new(Some(entry), None);
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let mut filled = 0;
        if fsm.wants_read() {
            filled = input.read(fsm.space())?;
            budget.read(filled)?;
            fsm.fill(filled);
        }
        match fsm.process(&mut buf).map_err(invalid)? {
            FsmResult::Continue((next, outcome)) => {
                fsm = next;
                if outcome.bytes_written > 0 {
                    budget.emit(outcome.bytes_written)?;
                    out.write_all(&buf[..outcome.bytes_written])?;
                } else if filled == 0 && outcome.bytes_read == 0 {
                    return Err(ZipError::Invalid("the member ends before its data does".into()));
                }
            }
            FsmResult::Done(_) => return Ok(()),
        }
    }
}
