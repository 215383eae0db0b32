//! What the build page shows of an artifact without leaving it: the first MiB of a text or a
//! log with its ANSI colours, JSON pretty-printed, a JUnit report as a table of test cases
//! (failures first); anything else is offered as a download with its size and SHA-256.
//!
//! Everything here reads bytes a build uploaded: hostile input. Reads are bounded (a prefix of
//! the object), parsers never fetch anything (no external XML entities), and the output is
//! plain data that the page renders as text, never as markup.

use super::artifacts::{Readable, is_active_content};
use super::{ServiceResult, Vitrine};
use crate::db::Artifact;

/// How much of a text or a log is shown in the page.
pub const TEXT_PREVIEW_BYTES: u64 = 1 << 20;
/// JSON up to this size is pretty-printed (larger: shown as text, its first MiB).
pub const JSON_PREVIEW_BYTES: u64 = 1 << 20;
/// JUnit reports up to this size are read as a table.
pub const JUNIT_PREVIEW_BYTES: u64 = 8 << 20;
/// A table shows at most this many test cases (failures first, so none of them is cut).
pub const JUNIT_MAX_CASES: usize = 5_000;
/// A failure's message and trace are cut at this many bytes.
const JUNIT_MAX_DETAIL: usize = 16 * 1024;

#[derive(Debug, Clone, PartialEq)]
pub enum Preview {
    /// Text or a log: styled runs of its first bytes (`shown` of them, valid UTF-8).
    Text {
        runs: Vec<StyledRun>,
        shown: u64,
        truncated: bool,
    },
    /// JSON, pretty-printed with its keys in their order.
    Json(String),
    JUnit(JUnitReport),
    /// Shown as an image.
    Image,
    /// An HTML page: opened on the artifacts origin, sandboxed.
    Page,
    /// Offered as a download.
    Download,
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

impl Vitrine {
    /// The first `len` bytes of an artifact, stored or in an archive.
    async fn prefix(&self, readable: &Readable, len: u64) -> ServiceResult<bytes::Bytes> {
        match readable {
            Readable::Stored(artifact) => Ok(self.storage.read_prefix(&artifact.s3_key, len).await?),
            Readable::Member(member) => self.member_prefix(member, len).await,
        }
    }

    /// The preview of an artifact the caller may read (checked by the caller).
    pub async fn preview(&self, readable: &Readable) -> ServiceResult<Preview> {
        let artifact = &readable.artifact();
        let size = artifact.size.max(0) as u64;
        let text = |bytes: &[u8]| text_preview(bytes, size);
        Ok(match kind_of(artifact) {
            Kind::Image => Preview::Image,
            Kind::Page => Preview::Page,
            Kind::Download => Preview::Download,
            Kind::Json if size <= JSON_PREVIEW_BYTES => {
                let bytes = self.prefix(readable, size).await?;
                match serde_json::from_slice::<serde_json::Value>(&bytes) {
                    Ok(value) => Preview::Json(serde_json::to_string_pretty(&value).unwrap_or_default()),
                    Err(_) => text(&bytes),
                }
            }
            Kind::Xml if size <= JUNIT_PREVIEW_BYTES => {
                let bytes = self.prefix(readable, size).await?;
                match parse_junit(&bytes) {
                    Some(report) => Preview::JUnit(report),
                    None => text(&bytes[..bytes.len().min(TEXT_PREVIEW_BYTES as usize)]),
                }
            }
            Kind::Text | Kind::Json | Kind::Xml => {
                let bytes = self.prefix(readable, size.min(TEXT_PREVIEW_BYTES)).await?;
                text(&bytes)
            }
        })
    }
}

/// The first bytes of a text as styled runs; bytes that are not text (a NUL) make it a
/// download instead.
fn text_preview(bytes: &[u8], size: u64) -> Preview {
    if bytes.contains(&0) {
        return Preview::Download;
    }
    // A prefix may end inside a character: show up to the last whole one.
    let valid = match std::str::from_utf8(bytes) {
        Ok(_) => bytes,
        Err(e) if e.error_len().is_none() => &bytes[..e.valid_up_to()],
        Err(_) => bytes,
    };
    Preview::Text { runs: ansi_runs(valid), shown: valid.len() as u64, truncated: (valid.len() as u64) < size }
}

// ---------------------------------------------------------------------------------------------
// ANSI colours

/// A stretch of text in one style.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StyledRun {
    pub text: String,
    pub style: Style,
}

/// The SGR attributes CI logs use: the 16 terminal colours and a few faces.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Style {
    pub bold: bool,
    pub dim: bool,
    pub italic: bool,
    pub underline: bool,
    /// 0–15: black, red, green, yellow, blue, magenta, cyan, white, then their bright forms.
    pub fg: Option<u8>,
    pub bg: Option<u8>,
}

impl Style {
    /// CSS classes for the page (`b`, `d`, `i`, `u`, `f0`–`f15`, `k0`–`k15`): the app's CSP
    /// allows no inline style.
    pub fn classes(&self) -> String {
        let mut classes = Vec::new();
        for (on, class) in [(self.bold, "b"), (self.dim, "d"), (self.italic, "i"), (self.underline, "u")] {
            if on {
                classes.push(class.to_owned());
            }
        }
        classes.extend(self.fg.map(|c| format!("f{c}")));
        classes.extend(self.bg.map(|c| format!("k{c}")));
        classes.join(" ")
    }

    /// Applies one `ESC [ ... m` sequence.
    fn apply(&mut self, params: &[u16]) {
        let mut params = params.iter().copied();
        if params.len() == 0 {
            *self = Style::default();
        }
        while let Some(p) = params.next() {
            match p {
                0 => *self = Style::default(),
                1 => self.bold = true,
                2 => self.dim = true,
                3 => self.italic = true,
                4 => self.underline = true,
                22 => (self.bold, self.dim) = (false, false),
                23 => self.italic = false,
                24 => self.underline = false,
                30..=37 => self.fg = Some((p - 30) as u8),
                39 => self.fg = None,
                40..=47 => self.bg = Some((p - 40) as u8),
                49 => self.bg = None,
                90..=97 => self.fg = Some((p - 90 + 8) as u8),
                100..=107 => self.bg = Some((p - 100 + 8) as u8),
                38 | 48 => {
                    // 256 colours (`38;5;n`) keep the 16 basic ones; true colour is dropped.
                    let colour = match params.next() {
                        Some(5) => params.next().filter(|n| *n < 16).map(|n| n as u8),
                        Some(2) => {
                            params.by_ref().take(3).for_each(drop);
                            None
                        }
                        _ => None,
                    };
                    if p == 38 { self.fg = colour } else { self.bg = colour }
                }
                _ => {}
            }
        }
    }
}

/// Terminal output as styled runs: SGR sequences become styles, other escape sequences are
/// dropped, a carriage return that does not end a line starts it over (progress bars show
/// their last state, as in a terminal), and other control characters are removed.
pub fn ansi_runs(text: &[u8]) -> Vec<StyledRun> {
    struct Runs {
        runs: Vec<StyledRun>,
        style: Style,
        /// Where the current line starts: the run, and the byte in it.
        line_start: (usize, usize),
        /// A `\r` was seen: the line starts over unless a `\n` follows.
        carriage_return: bool,
    }
    impl Runs {
        fn push(&mut self, c: char) {
            if self.carriage_return {
                self.carriage_return = false;
                let (run, byte) = self.line_start;
                self.runs.truncate(run + 1);
                if let Some(last) = self.runs.last_mut() {
                    last.text.truncate(byte);
                }
            }
            match self.runs.last_mut() {
                Some(last) if last.style == self.style => last.text.push(c),
                Some(last) if last.text.is_empty() => {
                    last.style = self.style;
                    last.text.push(c);
                }
                _ => self.runs.push(StyledRun { text: c.to_string(), style: self.style }),
            }
            if c == '\n' {
                let run = self.runs.len() - 1;
                self.line_start = (run, self.runs[run].text.len());
            }
        }
    }
    impl anstyle_parse::Perform for Runs {
        fn print(&mut self, c: char) {
            self.push(c);
        }
        fn execute(&mut self, byte: u8) {
            match byte {
                b'\n' => {
                    self.carriage_return = false;
                    self.push('\n');
                }
                b'\t' => self.push('\t'),
                b'\r' => self.carriage_return = true,
                _ => {}
            }
        }
        fn csi_dispatch(&mut self, params: &anstyle_parse::Params, intermediates: &[u8], ignore: bool, action: u8) {
            if action == b'm' && intermediates.is_empty() && !ignore {
                let flat: Vec<u16> = params.iter().flat_map(|p| p.iter().copied()).collect();
                self.style.apply(&flat);
            }
        }
    }
    let mut runs = Runs { runs: Vec::new(), style: Style::default(), line_start: (0, 0), carriage_return: false };
    let mut parser = anstyle_parse::Parser::<anstyle_parse::DefaultCharAccumulator>::new();
    for &byte in text {
        parser.advance(&mut runs, byte);
    }
    runs.runs.retain(|r| !r.text.is_empty());
    runs.runs
}

// ---------------------------------------------------------------------------------------------
// JUnit XML

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    Failed,
    Error,
    Skipped,
    Passed,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TestCase {
    pub suite: String,
    pub class_name: String,
    pub name: String,
    /// Seconds.
    pub time: Option<f64>,
    pub outcome: Outcome,
    /// The failure's (or skip's) message attribute.
    pub message: String,
    /// The failure's text: usually a trace.
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct JUnitReport {
    /// Failures and errors first, then skipped, then passed; each in the report's order. At
    /// most [`JUNIT_MAX_CASES`].
    pub cases: Vec<TestCase>,
    pub total: usize,
    pub failed: usize,
    pub errors: usize,
    pub skipped: usize,
}

/// Reads a JUnit XML report (`<testsuites>` or `<testsuite>` at the top); `None` when the
/// XML is something else or cannot be read.
pub fn parse_junit(bytes: &[u8]) -> Option<JUnitReport> {
    use quick_xml::events::Event;

    let mut reader = quick_xml::Reader::from_reader(bytes);
    reader.config_mut().trim_text(false);
    let mut buf = Vec::new();
    let mut suites: Vec<String> = Vec::new();
    let mut case: Option<TestCase> = None;
    // Inside a <failure>, <error> or <skipped>: its text is the case's detail.
    let mut in_outcome = false;
    let mut seen_root = false;
    let mut cases = Vec::new();
    let attr = |e: &quick_xml::events::BytesStart, name: &[u8]| -> String {
        e.attributes()
            .flatten()
            .find(|a| a.key.as_ref() == name)
            .map(|a| a.unescape_value().map(|v| v.into_owned()).unwrap_or_else(|_| lossy(&a.value)))
            .unwrap_or_default()
    };
    loop {
        let event = reader.read_event_into(&mut buf).ok()?;
        let (element, empty) = match &event {
            Event::Start(e) => (Some(e), false),
            Event::Empty(e) => (Some(e), true),
            _ => (None, false),
        };
        if let Some(e) = element {
            let name = e.name();
            let name = name.as_ref();
            if !seen_root {
                if name != b"testsuites" && name != b"testsuite" {
                    return None;
                }
                seen_root = true;
            }
            match name {
                b"testsuite" if !empty => suites.push(attr(e, b"name")),
                b"testcase" => {
                    let new = TestCase {
                        suite: suites.last().cloned().unwrap_or_default(),
                        class_name: attr(e, b"classname"),
                        name: attr(e, b"name"),
                        time: attr(e, b"time").parse().ok(),
                        outcome: Outcome::Passed,
                        message: String::new(),
                        detail: String::new(),
                    };
                    if empty {
                        cases.push(new);
                    } else {
                        case = Some(new);
                    }
                }
                b"failure" | b"error" | b"skipped" => {
                    if let Some(case) = case.as_mut() {
                        let outcome = match name {
                            b"failure" => Outcome::Failed,
                            b"error" => Outcome::Error,
                            _ => Outcome::Skipped,
                        };
                        // A case with a failure and a skip counts as failed.
                        case.outcome = case.outcome.min(outcome);
                        let message = attr(e, b"message");
                        if case.message.is_empty() {
                            case.message = if message.is_empty() { attr(e, b"type") } else { message };
                        }
                        in_outcome = !empty;
                    }
                }
                _ => {}
            }
            continue;
        }
        match event {
            Event::Text(t) if in_outcome => {
                if let Some(case) = case.as_mut() {
                    let text = t.decode().map(|t| t.into_owned()).unwrap_or_else(|_| lossy(&t));
                    push_bounded(
                        &mut case.detail,
                        &quick_xml::escape::unescape(&text).map(|t| t.into_owned()).unwrap_or(text),
                    );
                }
            }
            Event::CData(t) if in_outcome => {
                if let Some(case) = case.as_mut() {
                    push_bounded(&mut case.detail, &lossy(&t));
                }
            }
            Event::GeneralRef(r) if in_outcome => {
                if let Some(case) = case.as_mut() {
                    let name = lossy(&r);
                    let resolved = quick_xml::escape::unescape(&format!("&{name};")).map(|t| t.into_owned());
                    push_bounded(&mut case.detail, &resolved.unwrap_or_default());
                }
            }
            Event::End(e) => match e.name().as_ref() {
                b"testcase" => cases.extend(case.take()),
                b"testsuite" => {
                    suites.pop();
                }
                b"failure" | b"error" | b"skipped" => in_outcome = false,
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if !seen_root {
        return None;
    }
    let count = |o: Outcome| cases.iter().filter(|c| c.outcome == o).count();
    let mut report = JUnitReport {
        total: cases.len(),
        failed: count(Outcome::Failed),
        errors: count(Outcome::Error),
        skipped: count(Outcome::Skipped),
        cases: Vec::new(),
    };
    cases.sort_by_key(|c| c.outcome);
    cases.truncate(JUNIT_MAX_CASES);
    report.cases = cases;
    Some(report)
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn push_bounded(detail: &mut String, text: &str) {
    let room = JUNIT_MAX_DETAIL.saturating_sub(detail.len());
    let mut end = text.len().min(room);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    detail.push_str(&text[..end]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(runs: &[StyledRun]) -> String {
        runs.iter().map(|r| r.text.as_str()).collect()
    }

    #[test]
    fn ansi_colours_become_styles() {
        let runs = ansi_runs(b"ok \x1b[1;31mFAILED\x1b[0m done\n\x1b[92mgreen\x1b[39m");
        assert_eq!(plain(&runs), "ok FAILED done\ngreen");
        assert_eq!(
            runs[1],
            StyledRun { text: "FAILED".into(), style: Style { bold: true, fg: Some(1), ..Style::default() } }
        );
        assert_eq!(runs[1].style.classes(), "b f1");
        assert_eq!(runs[3].style.fg, Some(10));
        // 256 colours keep the basic 16; true colour and cursor moves are dropped.
        let runs = ansi_runs(b"\x1b[38;5;4mblue\x1b[38;2;1;2;3mrgb\x1b[2K\x1b[48;5;200mx");
        assert_eq!(plain(&runs), "bluergbx");
        assert_eq!(runs[0].style.fg, Some(4));
        assert_eq!(runs[1].style, Style::default());
    }

    #[test]
    fn carriage_returns_keep_the_last_state_of_a_line() {
        let runs = ansi_runs(b"start\n 10%\r 50%\r\x1b[32m100%\x1b[0m\r\nnext\r\n");
        assert_eq!(plain(&runs), "start\n100%\nnext\n");
        assert!(runs.iter().any(|r| r.text == "100%" && r.style.fg == Some(2)));
        // Other control characters go; tabs stay.
        assert_eq!(plain(&ansi_runs(b"a\tb\x07c\x08")), "a\tbc");
    }

    #[test]
    fn a_prefix_ends_on_a_whole_character() {
        let text = "héllo".as_bytes();
        let Preview::Text { runs, shown, truncated } = text_preview(&text[..2], 10) else { panic!() };
        assert_eq!((plain(&runs).as_str(), shown, truncated), ("h", 1, true));
        assert_eq!(text_preview(b"bin\0ary", 7), Preview::Download);
    }

    #[test]
    fn junit_reports_list_failures_first() {
        let xml = br#"<?xml version="1.0"?>
<testsuites>
  <testsuite name="login">
    <testcase classname="auth" name="accepts a password" time="0.5"/>
    <testcase classname="auth" name="refuses a wrong one" time="1.25">
      <failure message="expected 401, got 200" type="AssertionError">at login.rs:12 &amp; more</failure>
    </testcase>
    <testcase classname="auth" name="later"><skipped message="not yet"/></testcase>
    <testcase classname="auth" name="boom"><error message="panicked"><![CDATA[<trace>]]></error></testcase>
  </testsuite>
</testsuites>"#;
        let report = parse_junit(xml).unwrap();
        assert_eq!((report.total, report.failed, report.errors, report.skipped), (4, 1, 1, 1));
        let names: Vec<&str> = report.cases.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["refuses a wrong one", "boom", "later", "accepts a password"]);
        assert_eq!(report.cases[0].message, "expected 401, got 200");
        assert_eq!(report.cases[0].detail, "at login.rs:12 & more");
        assert_eq!(report.cases[0].suite, "login");
        assert_eq!(report.cases[0].time, Some(1.25));
        assert_eq!(report.cases[1].detail, "<trace>");
    }

    #[test]
    fn other_xml_and_hostile_xml_are_not_reports() {
        assert_eq!(parse_junit(b"<svg><testcase/></svg>"), None);
        assert_eq!(parse_junit(b"not xml at all <"), None);
        // An external entity is never fetched nor expanded.
        let xxe = br#"<?xml version="1.0"?><!DOCTYPE t [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<testsuite name="s"><testcase name="c"><failure message="m">&x;</failure></testcase></testsuite>"#;
        let report = parse_junit(xxe).unwrap();
        assert!(!report.cases[0].detail.contains("root:"), "{:?}", report.cases[0].detail);
    }
}
