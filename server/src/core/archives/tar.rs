//! Tar archives (plain, or gzipped), read as a stream of 512-byte headers: what the index
//! needs is each file's name, size and where its bytes start, so nothing but headers and names
//! is kept. A header claims sizes that nobody checked: a GNU long name or a PAX record is read
//! only up to a few KiB (a name longer than an artifact path cannot be one anyway), file bytes
//! are skipped, never held, and everything read counts against the budget, inflation included.
//! This runs on the blocking pool: inflating a tar.gz is CPU work.

use std::io::{self, Read};

use crate::core::untrusted::{Budget, Exceeded};

const BLOCK: u64 = 512;
/// A GNU long name or a PAX `path` is kept up to this length; longer names are left out.
const MAX_NAME: u64 = 8 << 10;
/// A PAX extended header is read up to this size (its other records are skipped).
const MAX_PAX: u64 = 64 << 10;

/// A file the archive holds, as its headers give it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TarFile {
    /// Its name (lossy UTF-8); `None` when the name was too long to keep.
    pub name: Option<String>,
    pub size: u64,
    /// Where its bytes start in the (uncompressed) tar.
    pub offset: u64,
}

#[derive(Debug)]
pub enum TarError {
    /// Not a tar (or damaged), in words for the reader.
    Invalid(String),
    Budget(Exceeded),
    Io(io::Error),
}

impl From<Exceeded> for TarError {
    fn from(e: Exceeded) -> Self {
        TarError::Budget(e)
    }
}

impl From<io::Error> for TarError {
    fn from(e: io::Error) -> Self {
        TarError::Io(e)
    }
}

/// A reader that counts what it reads against the budget.
struct Counted<'b, R> {
    inner: R,
    position: u64,
    budget: &'b mut Budget,
}

impl<R: Read> Counted<'_, R> {
    /// Fills `buf`; `false` at a clean end before its first byte.
    fn block(&mut self, buf: &mut [u8; BLOCK as usize]) -> Result<bool, TarError> {
        let mut filled = 0;
        while filled < buf.len() {
            let n = self.inner.read(&mut buf[filled..])?;
            if n == 0 {
                return if filled == 0 {
                    Ok(false)
                } else {
                    Err(TarError::Invalid("the archive ends in the middle of a header".into()))
                };
            }
            filled += n;
        }
        self.count(buf.len())?;
        Ok(true)
    }

    fn count(&mut self, n: usize) -> Result<(), Exceeded> {
        self.position += n as u64;
        self.budget.read(n)
    }

    /// Reads `n` bytes and keeps the first `keep` of them.
    fn take(&mut self, n: u64, keep: u64) -> Result<Vec<u8>, TarError> {
        let mut kept = Vec::with_capacity(n.min(keep) as usize);
        let mut chunk = [0u8; 8192];
        let mut left = n;
        while left > 0 {
            let want = left.min(chunk.len() as u64) as usize;
            let got = self.inner.read(&mut chunk[..want])?;
            if got == 0 {
                return Err(TarError::Invalid("the archive ends in the middle of a file".into()));
            }
            self.count(got)?;
            let room = keep.saturating_sub(kept.len() as u64).min(got as u64) as usize;
            kept.extend_from_slice(&chunk[..room]);
            left -= got as u64;
        }
        Ok(kept)
    }

    /// Skips `n` bytes and the padding to the next block.
    fn skip_padded(&mut self, n: u64) -> Result<(), TarError> {
        self.take(n.saturating_add(padding(n)), 0).map(drop)
    }
}

/// Reads the headers of a tar from its start, calling `file` for each regular file.
pub fn scan(
    input: impl Read,
    budget: &mut Budget,
    mut file: impl FnMut(TarFile, &mut Budget) -> Result<(), Exceeded>,
) -> Result<(), TarError> {
    let mut tar = Counted { inner: input, position: 0, budget };
    let mut header = [0u8; BLOCK as usize];
    // A GNU long name or a PAX path for the next header: `Some(None)` when it was too long.
    let mut long_name: Option<Option<Vec<u8>>> = None;
    let mut first = true;
    loop {
        if !tar.block(&mut header)? {
            // A tar that ends without its two zero blocks: tolerated, as tar itself does.
            return if first { Err(TarError::Invalid("the archive is empty".into())) } else { Ok(()) };
        }
        if header.iter().all(|&b| b == 0) {
            return Ok(());
        }
        if !checksum_matches(&header) {
            return Err(TarError::Invalid(if first {
                "it is not a tar archive".into()
            } else {
                format!("a header at byte {} is damaged", tar.position - BLOCK)
            }));
        }
        first = false;
        tar.budget.element()?;
        let size = number(&header[124..136])
            .ok_or_else(|| TarError::Invalid(format!("a header at byte {} has no size", tar.position - BLOCK)))?;
        let data_at = tar.position;
        match header[156] {
            b'L' => {
                let name = tar.take(size, MAX_NAME)?;
                tar.take(padding(size), 0)?;
                long_name = Some((size <= MAX_NAME).then(|| until_nul(name)));
            }
            b'x' => {
                let records = tar.take(size, MAX_PAX)?;
                tar.take(padding(size), 0)?;
                if let Some(path) = pax_path(&records, size > MAX_PAX) {
                    long_name = Some(path);
                }
            }
            b'0' | 0 | b'7' => {
                let name = match long_name.take() {
                    Some(name) => name,
                    None => Some(header_name(&header)),
                };
                let name = name.map(|n| String::from_utf8_lossy(&n).into_owned());
                file(TarFile { name, size, offset: data_at }, tar.budget)?;
                tar.skip_padded(size)?;
            }
            _ => {
                // Directories, links, devices, global PAX headers, long link names: skipped.
                long_name = None;
                tar.skip_padded(size)?;
            }
        }
    }
}

/// The zeros after `size` bytes of data, up to the next block.
fn padding(size: u64) -> u64 {
    (BLOCK - size % BLOCK) % BLOCK
}

/// The bytes of one file of an uncompressed tar stream, from `offset` (skipped) for `size`.
pub fn copy_file(
    input: impl Read,
    offset: u64,
    size: u64,
    out: &mut impl io::Write,
    budget: &mut Budget,
) -> Result<(), TarError> {
    let mut tar = Counted { inner: input, position: 0, budget };
    tar.take(offset, 0)?;
    let mut chunk = vec![0u8; 64 << 10];
    let mut left = size;
    while left > 0 {
        let want = left.min(chunk.len() as u64) as usize;
        let got = tar.inner.read(&mut chunk[..want])?;
        if got == 0 {
            return Err(TarError::Invalid("the archive ends in the middle of the file".into()));
        }
        tar.count(got)?;
        out.write_all(&chunk[..got])?;
        left -= got as u64;
    }
    Ok(())
}

fn until_nul(mut bytes: Vec<u8>) -> Vec<u8> {
    if let Some(end) = bytes.iter().position(|&b| b == 0) {
        bytes.truncate(end);
    }
    bytes
}

/// The name in a header: ustar's prefix, a `/` and its name; or the name alone.
fn header_name(header: &[u8; BLOCK as usize]) -> Vec<u8> {
    let field = |range: std::ops::Range<usize>| until_nul(header[range].to_vec());
    let name = field(0..100);
    if &header[257..263] == b"ustar\0" {
        let prefix = field(345..500);
        if !prefix.is_empty() {
            return [prefix, b"/".to_vec(), name].concat();
        }
    }
    name
}

/// A header's checksum: the sum of its bytes with the checksum field as spaces (unsigned, or
/// signed as some old tars wrote it).
fn checksum_matches(header: &[u8; BLOCK as usize]) -> bool {
    let Some(stored) = number(&header[148..156]) else { return false };
    let (mut unsigned, mut signed) = (0u64, 0i64);
    for (i, &b) in header.iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { b };
        unsigned += u64::from(b);
        signed += i64::from(b as i8);
    }
    stored == unsigned || i64::try_from(stored).is_ok_and(|s| s == signed)
}

/// A numeric field: octal digits (space or NUL padded), or GNU's base-256 (high bit set).
fn number(field: &[u8]) -> Option<u64> {
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        let mut n: u64 = u64::from(field[0] & 0x7f);
        for &b in &field[1..] {
            n = n.checked_mul(256)?.checked_add(u64::from(b))?;
        }
        return Some(n);
    }
    let digits = field.iter().skip_while(|b| **b == b' ').take_while(|b| (b'0'..=b'7').contains(b));
    let mut n: u64 = 0;
    let mut any = false;
    for &b in digits {
        n = n.checked_mul(8)?.checked_add(u64::from(b - b'0'))?;
        any = true;
    }
    any.then_some(n)
}

/// The `path` record of a PAX extended header (`<len> path=<value>\n` records); `Some(None)`
/// when it was cut by the read limit.
#[allow(clippy::option_option)] // as the doc says: absent, cut, or a path
fn pax_path(records: &[u8], cut: bool) -> Option<Option<Vec<u8>>> {
    let mut rest = records;
    while !rest.is_empty() {
        let space = rest.iter().position(|&b| b == b' ')?;
        let len: usize = std::str::from_utf8(&rest[..space]).ok()?.parse().ok()?;
        if len <= space || len > rest.len() {
            // A record past what was read: the path may be in it.
            return cut.then_some(None);
        }
        let record = &rest[space + 1..len];
        let record = record.strip_suffix(b"\n").unwrap_or(record);
        if let Some(path) = record.strip_prefix(b"path=") {
            return Some((path.len() as u64 <= MAX_NAME).then(|| path.to_vec()));
        }
        rest = &rest[len..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::untrusted::Limits;

    fn roomy() -> Budget {
        Budget::new(Limits::ROOMY)
    }

    fn files(tar: &[u8], budget: &mut Budget) -> Result<Vec<TarFile>, TarError> {
        let mut found = Vec::new();
        scan(tar, budget, |f, _| {
            found.push(f);
            Ok(())
        })?;
        Ok(found)
    }

    /// A tar made by the `tar` crate's writer's rules, by hand: a header and padded data.
    fn entry(tar: &mut Vec<u8>, name: &[u8], kind: u8, data: &[u8]) {
        let mut h = [0u8; 512];
        h[..name.len().min(100)].copy_from_slice(&name[..name.len().min(100)]);
        h[100..108].copy_from_slice(b"0000644\0");
        h[124..136].copy_from_slice(format!("{:011o}\0", data.len()).as_bytes());
        h[156] = kind;
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].copy_from_slice(b"        ");
        let sum: u64 = h.iter().map(|&b| u64::from(b)).sum();
        h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        tar.extend_from_slice(&h);
        tar.extend_from_slice(data);
        tar.resize(tar.len().next_multiple_of(512), 0);
    }

    #[test]
    fn files_long_names_and_pax_paths_are_found_where_their_bytes_are() {
        let mut tar = Vec::new();
        entry(&mut tar, b"site/index.html", b'0', b"<h1>hi</h1>");
        entry(&mut tar, b"site/", b'5', b"");
        let long = format!("site/{}.css", "a".repeat(150));
        entry(&mut tar, b"././@LongLink", b'L', long.as_bytes());
        entry(&mut tar, b"site/aaaa", b'0', b"body{}");
        entry(&mut tar, b"PaxHeader", b'x', b"26 path=site/from-pax.txt\n");
        entry(&mut tar, b"site/short", b'0', b"pax");
        tar.extend_from_slice(&[0u8; 1024]);
        let found = files(&tar, &mut roomy()).unwrap();
        let names: Vec<Option<&str>> = found.iter().map(|f| f.name.as_deref()).collect();
        assert_eq!(names, [Some("site/index.html"), Some(long.as_str()), Some("site/from-pax.txt")]);
        assert_eq!(&tar[found[1].offset as usize..][..6], b"body{}");
        assert_eq!(found[2].size, 3);
        let mut out = Vec::new();
        copy_file(&tar[..], found[1].offset, found[1].size, &mut out, &mut roomy()).unwrap();
        assert_eq!(out, b"body{}");
    }

    #[test]
    fn a_long_name_header_claiming_a_gibibyte_is_not_read_into_memory() {
        let mut tar = Vec::new();
        entry(&mut tar, b"././@LongLink", b'L', &vec![b'a'; 100_000]);
        entry(&mut tar, b"x", b'0', b"data");
        let found = files(&tar, &mut roomy()).unwrap();
        assert_eq!(found, [TarFile { name: None, size: 4, offset: found[0].offset }], "left out by name");

        // A header that claims 1 GiB of long name over a short archive: an error, soon.
        let mut tar = Vec::new();
        entry(&mut tar, b"././@LongLink", b'L', b"");
        tar[124..136].copy_from_slice(b"10000000000\0");
        let sum: u64 =
            tar[..512].iter().enumerate().map(|(i, &b)| if (148..156).contains(&i) { 32 } else { u64::from(b) }).sum();
        tar[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        assert!(matches!(files(&tar, &mut roomy()), Err(TarError::Invalid(_))));
        // And what is read counts against the budget.
        let mut budget = Budget::new(Limits { read: 1024, ..Limits::ROOMY });
        let mut big = Vec::new();
        entry(&mut big, b"big", b'0', &vec![0u8; 4096]);
        assert!(matches!(files(&big, &mut budget), Err(TarError::Budget(Exceeded::Read(1024)))));
    }

    #[test]
    fn what_is_not_a_tar_says_so() {
        let err = files(&[b'x'; 1024], &mut roomy()).unwrap_err();
        assert!(matches!(err, TarError::Invalid(m) if m == "it is not a tar archive"));
        assert!(matches!(files(b"", &mut roomy()), Err(TarError::Invalid(_))));
    }

    #[test]
    fn numbers_in_octal_and_base_256() {
        assert_eq!(number(b"00000000012\0"), Some(10));
        assert_eq!(number(b"     12 "), Some(10));
        assert_eq!(number(&[0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]), Some(256));
        assert_eq!(number(&[0xff; 12]), None, "past u64");
        assert_eq!(number(b"\0\0\0"), None);
    }
}
