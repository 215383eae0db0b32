//! The readers of untrusted artifacts under generated hostile input: structure-aware
//! generators (proptest) that build JUnit documents, ANSI logs, JSON, zip central directories,
//! tar headers with long-name and PAX entries, gzip streams, PNG headers and folder paths with
//! hostile fields, not random bytes. Whatever they build, a reader answers (a result, or a
//! refusal in words) within its budget: never a panic, never more output or memory than the
//! budget allows. Cases that once broke a rule are kept in `readers/*.txt` and run every time.

use std::io::Write;
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestRunner};
use vitrine::core::archives::{tar, zip};
use vitrine::core::previews::{JUNIT_MAX_CASES, ansi_runs, parse_junit, pretty_json};
use vitrine::core::untrusted::{Budget, Exceeded, Limits};

/// Cases per generator in CI: enough to reach the odd shapes, a few seconds each.
const CASES: u32 = 256;

fn budget(read: u64, held: u64, output: u64, elements: u64) -> Budget {
    Budget::new(Limits { read, held, output, elements, time: Duration::from_secs(30) })
}

fn run<S: Strategy>(strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S::Value: std::fmt::Debug,
{
    // What a generator ever finds is kept here (committed) and tried first on every run.
    let kept = FileFailurePersistence::Direct("tests/it/readers.regressions");
    let mut runner =
        TestRunner::new(Config { cases: CASES, failure_persistence: Some(Box::new(kept)), ..Config::default() });
    runner.run(&strategy, test).unwrap();
}

// ---------------------------------------------------------------------------------------------
// Text that breaks XML and HTML readers: entities, markup, long runs, odd characters.

fn hostile_text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-zA-Z0-9 _.:/-]{0,24}",
        1 => prop::sample::select(vec![
            "&amp;", "&lt;", "&#x1F680;", "&#0;", "&#xD800;", "&undefined;", "&", "<", "]]>", "\"", "'",
            "\u{202e}", "\u{0}", "\u{feff}", "%s%n", "${x}",
        ])
        .prop_map(str::to_owned),
        1 => (1usize..5000).prop_map(|n| "x".repeat(n)),
    ]
}

// ---------------------------------------------------------------------------------------------
// JUnit

#[derive(Debug, Clone)]
enum Outcome {
    Passed,
    Failure(String, String),
    Error(String),
    Skipped,
}

#[derive(Debug, Clone)]
struct Case {
    name: String,
    class: String,
    time: String,
    outcome: Outcome,
    extra_attributes: usize,
}

#[derive(Debug, Clone)]
struct Suite {
    name: String,
    cases: Vec<Case>,
    nested: Vec<Suite>,
}

fn case() -> impl Strategy<Value = Case> {
    let outcome = prop_oneof![
        3 => Just(Outcome::Passed),
        2 => (hostile_text(), hostile_text()).prop_map(|(m, d)| Outcome::Failure(m, d)),
        1 => hostile_text().prop_map(Outcome::Error),
        1 => Just(Outcome::Skipped),
    ];
    let time = prop_oneof![Just("0.25".to_owned()), Just("NaN".to_owned()), Just("-1e308".to_owned()), hostile_text()];
    (hostile_text(), hostile_text(), time, outcome, prop_oneof![9 => Just(0usize), 1 => 0usize..3000]).prop_map(
        |(name, class, time, outcome, extra_attributes)| Case { name, class, time, outcome, extra_attributes },
    )
}

fn suite() -> impl Strategy<Value = Suite> {
    let leaf = (hostile_text(), prop::collection::vec(case(), 0..30)).prop_map(|(name, cases)| Suite {
        name,
        cases,
        nested: Vec::new(),
    });
    leaf.prop_recursive(4, 64, 4, |inner| {
        (hostile_text(), prop::collection::vec(case(), 0..10), prop::collection::vec(inner, 0..4))
            .prop_map(|(name, cases, nested)| Suite { name, cases, nested })
    })
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('"', "&quot;")
}

/// Writes a suite as a JUnit document; `raw` writes some fields unescaped (broken XML).
fn write_suite(suite: &Suite, raw: bool, out: &mut String) {
    let text = |s: &str| if raw { s.to_owned() } else { escape(s) };
    out.push_str(&format!("<testsuite name=\"{}\">", text(&suite.name)));
    for case in &suite.cases {
        let extra: String = (0..case.extra_attributes).map(|i| format!(" a{i}=\"v\"")).collect();
        out.push_str(&format!(
            "<testcase classname=\"{}\" name=\"{}\" time=\"{}\"{extra}>",
            text(&case.class),
            text(&case.name),
            text(&case.time)
        ));
        match &case.outcome {
            Outcome::Passed => {}
            Outcome::Failure(m, d) => out.push_str(&format!("<failure message=\"{}\">{}</failure>", text(m), text(d))),
            Outcome::Error(d) => out.push_str(&format!("<error><![CDATA[{d}]]></error>")),
            Outcome::Skipped => out.push_str("<skipped/>"),
        }
        out.push_str("</testcase>");
    }
    for nested in &suite.nested {
        write_suite(nested, raw, out);
    }
    out.push_str("</testsuite>");
}

fn count(suite: &Suite) -> (usize, usize) {
    let here = suite.cases.len();
    let failed = suite.cases.iter().filter(|c| matches!(c.outcome, Outcome::Failure(..) | Outcome::Error(_))).count();
    suite.nested.iter().map(count).fold((here, failed), |(a, b), (c, d)| (a + c, b + d))
}

#[test]
fn junit_reports_are_read_within_their_budget() {
    let strategy = (prop::collection::vec(suite(), 1..4), any::<bool>(), 0u64..(1 << 20));
    run(strategy, |(suites, raw, held)| {
        let mut xml = String::from("<?xml version=\"1.0\"?><testsuites>");
        for suite in &suites {
            write_suite(suite, raw, &mut xml);
        }
        xml.push_str("</testsuites>");
        let held = held.max(1024);
        let mut b = budget(u64::MAX, held, held, 1 << 20);
        let Some(report) = parse_junit(xml.as_bytes(), &mut b) else {
            prop_assert!(raw, "a well-formed report is read");
            return Ok(());
        };
        let kept: usize =
            report.cases.iter().map(|c| c.name.len() + c.class_name.len() + c.message.len() + c.detail.len()).sum();
        prop_assert!(kept as u64 <= held, "{kept} bytes kept over a budget of {held}");
        prop_assert!(report.cases.len() <= JUNIT_MAX_CASES);
        prop_assert!(report.total >= report.cases.len());
        prop_assert!(report.failed + report.errors + report.skipped <= report.total);
        // Failures first, whatever the cut.
        let first_pass = report.cases.iter().position(|c| c.outcome as u8 >= 2).unwrap_or(report.cases.len());
        prop_assert!(report.cases[first_pass..].iter().all(|c| c.outcome as u8 >= 2));
        if !raw && report.stopped.is_none() {
            let (total, failed) = suites.iter().map(count).fold((0, 0), |(a, b), (c, d)| (a + c, b + d));
            prop_assert_eq!((report.total, report.failed + report.errors), (total, failed));
        }
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------------
// ANSI logs

fn log_piece() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => "[ -~]{0,40}".prop_map(String::into_bytes),
        2 => prop::collection::vec(0u16..400, 0..6).prop_map(|params| {
            let params: Vec<String> = params.iter().map(u16::to_string).collect();
            format!("\x1b[{}m", params.join(";")).into_bytes()
        }),
        1 => prop::sample::select(vec![
            &b"\r"[..], b"\n", b"\r\n", b"\t", b"\x1b[2K", b"\x1b]0;title\x07", b"\x1b[38;2;1;2;3m", b"\x1b[38;5;300m",
            b"\x1b[", b"\x1b", b"\x08", b"\xff\xfe", b"\xe2\x80\xae", "日本".as_bytes(),
        ])
        .prop_map(<[u8]>::to_vec),
        1 => (1usize..2000).prop_map(|n| b"\x1b[31mx\x1b[32my".repeat(n)),
    ]
}

#[test]
fn logs_are_styled_within_their_output_budget() {
    run((prop::collection::vec(log_piece(), 0..60), 1u64..4), |(pieces, ratio)| {
        let log: Vec<u8> = pieces.concat();
        let limit = ratio * log.len() as u64 + 64;
        let mut b = budget(u64::MAX, u64::MAX, limit, u64::MAX);
        let (runs, stopped) = ansi_runs(&log, &mut b);
        let text: usize = runs.iter().map(|r| r.text.len()).sum();
        prop_assert!(text as u64 + 32 * runs.len() as u64 <= limit, "{text} bytes in {} runs over {limit}", runs.len());
        prop_assert!(runs.iter().all(|r| !r.text.is_empty()));
        prop_assert!(runs.iter().all(|r| !r.text.chars().any(|c| c.is_control() && c != '\n' && c != '\t')));
        if let Some((at, why)) = stopped {
            prop_assert!(at < log.len());
            prop_assert_eq!(why, Exceeded::Output(limit));
        }
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------------
// JSON

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        hostile_text().prop_map(Value::String),
    ];
    leaf.prop_recursive(24, 400, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((hostile_text(), inner), 0..8)
                .prop_map(|entries| Value::Object(entries.into_iter().collect())),
        ]
    })
}

#[test]
fn json_is_laid_out_as_it_reads_within_four_times_its_size() {
    run((json_value(), any::<bool>(), 0usize..3), |(value, compact, nest)| {
        // Deep nesting around the value: where pretty-printing grows.
        let inner = if compact { serde_json::to_string(&value) } else { serde_json::to_string_pretty(&value) };
        let text = format!("{}{}{}", "[".repeat(nest * 40), inner.unwrap(), "]".repeat(nest * 40));
        let limit = 4 * text.len() as u64;
        let mut b = budget(u64::MAX, limit, limit, u64::MAX);
        let pretty = pretty_json(text.as_bytes(), &mut b).expect("valid JSON is laid out");
        prop_assert!(pretty.text.len() as u64 <= limit);
        if pretty.stopped.is_none() {
            let read: serde_json::Value = serde_json::from_str(&pretty.text).expect("the layout is JSON");
            let wrote: serde_json::Value = serde_json::from_str(&text).unwrap();
            prop_assert_eq!(read, wrote);
        }
        Ok(())
    });
    // Not JSON: no layout, whatever the bytes.
    run(prop::collection::vec(any::<u8>(), 0..200), |bytes| {
        let mut b = budget(u64::MAX, 1 << 20, 1 << 20, u64::MAX);
        if serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).is_err() {
            prop_assert!(pretty_json(&bytes, &mut b).is_none());
        }
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------------
// Zip central directories

#[derive(Debug, Clone)]
struct ZipMember {
    name: Vec<u8>,
    data: Vec<u8>,
    /// Lies the central directory tells about it.
    claimed_size: Option<u32>,
    claimed_offset: Option<u32>,
}

#[derive(Debug, Clone)]
struct ZipShape {
    members: Vec<ZipMember>,
    claimed_entries: Option<u16>,
    claimed_directory_size: Option<u32>,
    claimed_directory_offset: Option<u32>,
    comment: Vec<u8>,
    truncate: Option<usize>,
}

fn zip_name() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => "[a-z]{1,8}(/[a-z]{1,8}){0,3}\\.(html|css|txt)".prop_map(String::into_bytes),
        1 => prop::sample::select(vec![
            &b"../../etc/passwd"[..], b"/abs", b"a//b", b"dir/", b"a\0b", b"x\xe2\x80\xaegpj.exe", b"", b"\xff\xfe",
        ])
        .prop_map(<[u8]>::to_vec),
        1 => (1usize..70_000).prop_map(|n| vec![b'a'; n]),
    ]
}

fn zip_shape() -> impl Strategy<Value = ZipShape> {
    let member = (
        zip_name(),
        prop::collection::vec(any::<u8>(), 0..64),
        prop::option::weighted(0.1, any::<u32>()),
        prop::option::weighted(0.1, any::<u32>()),
    )
        .prop_map(|(name, data, claimed_size, claimed_offset)| ZipMember {
            name,
            data,
            claimed_size,
            claimed_offset,
        });
    (
        prop::collection::vec(member, 0..12),
        prop::option::weighted(0.15, any::<u16>()),
        prop::option::weighted(0.15, any::<u32>()),
        prop::option::weighted(0.15, any::<u32>()),
        prop::collection::vec(any::<u8>(), 0..8),
        prop::option::weighted(0.1, 0usize..400),
    )
        .prop_map(
            |(members, claimed_entries, claimed_directory_size, claimed_directory_offset, comment, truncate)| {
                ZipShape {
                    members,
                    claimed_entries,
                    claimed_directory_size,
                    claimed_directory_offset,
                    comment,
                    truncate,
                }
            },
        )
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = flate2::Crc::new();
    crc.update(bytes);
    crc.sum()
}

/// Stored (not compressed) members, their central directory and its end record, with the
/// shape's lies written in.
fn write_zip(shape: &ZipShape) -> Vec<u8> {
    let mut out = Vec::new();
    let mut directory = Vec::new();
    for m in &shape.members {
        let offset = out.len() as u32;
        let name_len = m.name.len().min(u16::MAX as usize);
        let name = &m.name[..name_len];
        let (crc, size) = (crc32(&m.data), m.data.len() as u32);
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        out.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&(name_len as u16).to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(name);
        out.extend_from_slice(&m.data);
        directory.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        directory.extend_from_slice(&[20, 3, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        directory.extend_from_slice(&crc.to_le_bytes());
        directory.extend_from_slice(&m.claimed_size.unwrap_or(size).to_le_bytes());
        directory.extend_from_slice(&m.claimed_size.unwrap_or(size).to_le_bytes());
        directory.extend_from_slice(&(name_len as u16).to_le_bytes());
        directory.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x81]);
        directory.extend_from_slice(&m.claimed_offset.unwrap_or(offset).to_le_bytes());
        directory.extend_from_slice(name);
    }
    let directory_offset = out.len() as u32;
    out.extend_from_slice(&directory);
    let entries = shape.members.len() as u16;
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&shape.claimed_entries.unwrap_or(entries).to_le_bytes());
    out.extend_from_slice(&shape.claimed_entries.unwrap_or(entries).to_le_bytes());
    out.extend_from_slice(&shape.claimed_directory_size.unwrap_or(directory.len() as u32).to_le_bytes());
    out.extend_from_slice(&shape.claimed_directory_offset.unwrap_or(directory_offset).to_le_bytes());
    out.extend_from_slice(&(shape.comment.len() as u16).to_le_bytes());
    out.extend_from_slice(&shape.comment);
    if let Some(cut) = shape.truncate {
        out.truncate(out.len().saturating_sub(cut));
    }
    out
}

async fn zip_index(bytes: &[u8], b: &mut Budget) -> Result<Vec<zip::ZipFile>, zip::ZipError> {
    let size = bytes.len() as u64;
    let open = |offset: u64| {
        let tail = bytes.get(offset as usize..).unwrap_or_default().to_vec();
        async move { Ok::<zip::Opened, zip::ZipError>(Box::pin(std::io::Cursor::new(tail))) }
    };
    zip::read_index(open, size, b).await
}

#[test]
fn zip_directories_are_read_within_their_budget() {
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    run(zip_shape(), |shape| {
        let bytes = write_zip(&shape);
        let read_limit = 4096;
        let mut b = budget(read_limit, 1 << 20, 1 << 20, 8);
        match runtime.block_on(zip_index(&bytes, &mut b)) {
            Ok(files) => {
                prop_assert!(files.len() <= 8, "the element budget bounds the entries");
                prop_assert!(b.used_read() <= read_limit);
                for file in &files {
                    // What the index keeps reads back as that member, or is refused in words.
                    let mut out = Vec::new();
                    let from = file.place.header_offset as usize;
                    let input = bytes.get(from..).unwrap_or_default();
                    let mut reading = budget(1 << 20, 0, file.size.min(1 << 20), 0);
                    if zip::copy_member(&file.place, file.size, input, &mut out, &mut reading).is_ok() {
                        prop_assert_eq!(out.len() as u64, file.size);
                        prop_assert_eq!(crc32(&out), file.place.crc32);
                    }
                }
            }
            Err(zip::ZipError::Invalid(why)) => prop_assert!(!why.is_empty()),
            Err(zip::ZipError::Budget(_)) => prop_assert!(b.used_read() <= read_limit),
            Err(zip::ZipError::Io(_)) => {}
            Err(zip::ZipError::Storage(e)) => prop_assert!(false, "no store here: {e:?}"),
        }
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------------
// Tar headers, long names, PAX records, gzip streams

#[derive(Debug, Clone)]
enum TarEntry {
    File { name: Vec<u8>, data: Vec<u8> },
    LongName { name: Vec<u8>, claimed: Option<u64> },
    Pax { records: Vec<u8>, claimed: Option<u64> },
    Directory(Vec<u8>),
    Garbage(Vec<u8>),
    BadChecksum,
}

fn tar_entry() -> impl Strategy<Value = TarEntry> {
    prop_oneof![
        4 => (zip_name(), prop::collection::vec(any::<u8>(), 0..700))
            .prop_map(|(name, data)| TarEntry::File { name, data }),
        2 => (zip_name(), prop::option::weighted(0.2, any::<u64>()))
            .prop_map(|(name, claimed)| TarEntry::LongName { name, claimed }),
        2 => (
            prop_oneof![
                zip_name().prop_map(|n| {
                    let record = [b" path=".as_slice(), &n, b"\n"].concat();
                    let len = record.len() + (record.len() + 4).to_string().len();
                    [len.to_string().into_bytes(), record].concat()
                }),
                Just(b"99999999999 path=x\n".to_vec()),
                Just(b"5 p\n".to_vec()),
                prop::collection::vec(any::<u8>(), 0..40),
            ],
            prop::option::weighted(0.2, any::<u64>()),
        )
            .prop_map(|(records, claimed)| TarEntry::Pax { records, claimed }),
        1 => zip_name().prop_map(TarEntry::Directory),
        1 => prop::collection::vec(any::<u8>(), 1..600).prop_map(TarEntry::Garbage),
        1 => Just(TarEntry::BadChecksum),
    ]
}

fn tar_header(name: &[u8], kind: u8, size: u64, size_field: Option<u64>) -> [u8; 512] {
    let mut h = [0u8; 512];
    let n = name.len().min(100);
    h[..n].copy_from_slice(&name[..n]);
    h[100..108].copy_from_slice(b"0000644\0");
    let size = size_field.unwrap_or(size);
    if size < 8u64.pow(11) {
        h[124..136].copy_from_slice(format!("{size:011o}\0").as_bytes());
    } else {
        h[124] = 0x80;
        h[128..136].copy_from_slice(&size.to_be_bytes());
    }
    h[156] = kind;
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u64 = h.iter().map(|&b| u64::from(b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    h
}

fn write_tar(entries: &[TarEntry]) -> Vec<u8> {
    let mut out = Vec::new();
    let data = |out: &mut Vec<u8>, header: [u8; 512], bytes: &[u8]| {
        out.extend_from_slice(&header);
        out.extend_from_slice(bytes);
        out.resize(out.len().next_multiple_of(512), 0);
    };
    for entry in entries {
        match entry {
            TarEntry::File { name, data: bytes } => {
                data(&mut out, tar_header(name, b'0', bytes.len() as u64, None), bytes);
            }
            TarEntry::LongName { name, claimed } => {
                data(&mut out, tar_header(b"././@LongLink", b'L', name.len() as u64, *claimed), name);
            }
            TarEntry::Pax { records, claimed } => {
                data(&mut out, tar_header(b"PaxHeader", b'x', records.len() as u64, *claimed), records);
            }
            TarEntry::Directory(name) => data(&mut out, tar_header(name, b'5', 0, None), b""),
            TarEntry::Garbage(bytes) => out.extend_from_slice(bytes),
            TarEntry::BadChecksum => {
                let mut h = tar_header(b"bad", b'0', 0, None);
                h[148] ^= 1;
                out.extend_from_slice(&h);
            }
        }
    }
    out.extend_from_slice(&[0u8; 1024]);
    out
}

fn scan(input: impl std::io::Read, b: &mut Budget) -> Result<Vec<tar::TarFile>, tar::TarError> {
    let mut found = Vec::new();
    tar::scan(input, b, |f, _| {
        found.push(f);
        Ok(())
    })?;
    Ok(found)
}

#[test]
fn tar_headers_are_read_within_their_budget_plain_and_gzipped() {
    run((prop::collection::vec(tar_entry(), 0..12), any::<bool>(), any::<bool>()), |(entries, gzipped, cut)| {
        let tar = write_tar(&entries);
        let read_limit = 64 << 10;
        let mut b = budget(read_limit, 1 << 20, 0, 64);
        let found = if gzipped {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(&tar).unwrap();
            let mut bytes = gz.finish().unwrap();
            if cut {
                bytes.truncate(bytes.len() / 2);
            }
            scan(flate2::read::MultiGzDecoder::new(&bytes[..]), &mut b)
        } else {
            scan(&tar[..], &mut b)
        };
        prop_assert!(b.used_read() <= read_limit);
        match found {
            Ok(files) => {
                for f in files {
                    // A file's bytes are where the index says: within what was read.
                    prop_assert!(f.offset + f.size <= b.used_read() || gzipped);
                    prop_assert!(f.name.as_ref().is_none_or(|n| n.len() <= 8 << 10));
                }
            }
            Err(tar::TarError::Invalid(why)) => prop_assert!(!why.is_empty()),
            Err(tar::TarError::Budget(_) | tar::TarError::Io(_)) => {}
        }
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------------
// PNG headers

#[test]
fn image_comparisons_refuse_what_would_not_fit_before_decoding() {
    use vitrine::core::gallery::diff_images;
    let png = |w: u32, h: u32, depth: u8, colour: u8, body: &[u8]| {
        let mut ihdr = b"IHDR".to_vec();
        ihdr.extend_from_slice(&w.to_be_bytes());
        ihdr.extend_from_slice(&h.to_be_bytes());
        ihdr.extend_from_slice(&[depth, colour, 0, 0, 0]);
        let mut out = b"\x89PNG\r\n\x1a\n\0\0\0\x0d".to_vec();
        out.extend_from_slice(&ihdr);
        out.extend_from_slice(&crc32(&ihdr).to_be_bytes());
        out.extend_from_slice(&(body.len() as u32).to_be_bytes());
        out.extend_from_slice(b"IDAT");
        out.extend_from_slice(body);
        out.extend_from_slice(&crc32(&[b"IDAT".as_slice(), body].concat()).to_be_bytes());
        out
    };
    let side = prop_oneof![1u32..64, Just(20_000u32), Just(u32::MAX), 0u32..3, 3_000u32..5_000];
    let strategy = (
        (
            side.clone(),
            side.clone(),
            prop::sample::select(vec![1u8, 8, 16, 3]),
            prop::sample::select(vec![0u8, 2, 3, 6, 7]),
        ),
        (side.clone(), side, prop::sample::select(vec![8u8]), prop::sample::select(vec![2u8, 6])),
        prop::collection::vec(any::<u8>(), 0..64),
    );
    run(strategy, |((w1, h1, d1, c1), (w2, h2, d2, c2), body)| {
        let (a, b) = (png(w1, h1, d1, c1, &body), png(w2, h2, d2, c2, &body));
        let held = 64u64 << 20;
        let mut budget = budget(u64::MAX, held, held, u64::MAX);
        match diff_images(&a, &b, &mut budget) {
            Ok(diff) => prop_assert!(u64::from(diff.width) * u64::from(diff.height) * 4 <= held),
            Err(why) => prop_assert!(!why.is_empty() && !why.contains("panicked")),
        }
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------------
// Folder paths and cursors: every parameter parsed at the edge, in linear time

#[test]
fn folder_paths_and_cursors_are_parsed_in_linear_time() {
    use vitrine::domain::{FolderCursor, FolderPath, MAX_PATH_LEN};
    let piece = prop::sample::select(vec!["a", "/", "x.zip/", "..", "", "\u{202e}", "$CIRCLE_ARTIFACTS/", "\0"]);
    run((prop::collection::vec(piece, 0..50), 0usize..3), |(pieces, repeat)| {
        let folder = pieces.concat().repeat(1 + repeat * 200);
        match folder.parse::<FolderPath>() {
            Ok(parsed) => {
                prop_assert!(parsed.as_str().len() <= MAX_PATH_LEN + 1);
                prop_assert!(parsed.is_top() || parsed.as_str().ends_with('/'));
                let cursor = format!("{}a\u{1}", parsed.as_str());
                prop_assert!(FolderCursor::parse(&cursor, &parsed).is_ok() == (cursor.len() <= MAX_PATH_LEN + 8));
                prop_assert!(FolderCursor::parse("", &parsed).is_err());
            }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
        Ok(())
    });
    // A million slashes: refused at once by length, not walked prefix by prefix.
    let slashes = "/".repeat(1_000_000);
    assert!(slashes.parse::<FolderPath>().is_err());
}
