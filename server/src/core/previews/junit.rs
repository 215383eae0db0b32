//! JUnit XML reports (`<testsuites>` or `<testsuite>` at the top) as test cases, failures
//! first. The report is a build's file: hostile. The reader never fetches or expands external
//! entities, cuts every field it keeps, shares a suite's name among its cases instead of
//! copying it into each, keeps at most [`MAX_CASES`] cases (a failure displaces a passed case,
//! so no failure is lost to the cut), counts what it keeps against its budget as it goes, and
//! stops at the budget's limits, saying where.

use std::sync::Arc;
use vitrine_wire::report::TestOutcome;

use quick_xml::events::{BytesStart, Event};

use crate::core::untrusted::{Budget, Exceeded};

/// A report keeps at most this many test cases (failures first, so none of them is cut).
pub const MAX_CASES: usize = 5_000;
/// A failure's trace is cut at this many bytes.
const MAX_DETAIL: usize = 8 * 1024;
/// Names, class names and messages are cut at this many bytes.
const MAX_FIELD: usize = 2 * 1024;
/// A suite's name is cut at this many bytes: it is kept once, but shown beside each of its
/// cases.
const MAX_SUITE: usize = 256;
/// What a kept case costs besides its text.
const CASE_OVERHEAD: usize = 128;
/// A case's `<system-out>` is read this far for the attachments it names.
const MAX_OUTPUT: usize = 16 * 1024;
/// A case names at most this many attachments (Playwright's `[[ATTACHMENT|path]]` lines).
const MAX_ATTACHMENTS: usize = 32;
/// What an open suite costs besides its name.
const SUITE_OVERHEAD: usize = 32;

#[derive(Debug, Clone, PartialEq)]
pub struct TestCase {
    /// The innermost suite's name, shared by its cases.
    pub suite: Arc<str>,
    pub class_name: String,
    pub name: String,
    /// The test's source file, where the report says (pytest, Jest and Playwright do).
    pub file: String,
    /// Seconds.
    pub time: Option<f64>,
    pub outcome: TestOutcome,
    /// The failure's (or skip's) message attribute.
    pub message: String,
    /// The failure's text: usually a trace.
    pub detail: String,
    /// Files the report names as the case's attachments (screenshots, traces), as written:
    /// relative to the report's folder, or absolute.
    pub attachments: Vec<String>,
}

impl TestCase {
    /// What it costs kept, and shown (its suite's name is shown with each case).
    pub(super) fn weight(&self) -> usize {
        self.suite.len()
            + self.class_name.len()
            + self.name.len()
            + self.file.len()
            + self.message.len()
            + self.detail.len()
            + self.attachments.iter().map(|a| a.len() + 24).sum::<usize>()
            + CASE_OVERHEAD
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct JUnitReport {
    /// Failures and errors first, then skipped, then passed; each in the report's order. At
    /// most [`MAX_CASES`].
    pub cases: Vec<TestCase>,
    pub total: usize,
    pub failed: usize,
    pub errors: usize,
    pub skipped: usize,
    /// Where and why the reader stopped before the end (the counts are up to there).
    pub stopped: Option<String>,
}

/// Where the reader puts each case it finished.
trait Sink {
    fn case(&mut self, case: TestCase, budget: &mut Budget) -> Result<(), Exceeded>;
}

/// Every case, in the report's order, within the budget (test results to store).
#[derive(Default)]
struct Every(Vec<TestCase>);

impl Sink for Every {
    fn case(&mut self, case: TestCase, budget: &mut Budget) -> Result<(), Exceeded> {
        budget.hold(case.weight())?;
        self.0.push(case);
        Ok(())
    }
}

impl Sink for Kept {
    fn case(&mut self, case: TestCase, budget: &mut Budget) -> Result<(), Exceeded> {
        self.keep(case, budget)
    }
}

/// The cases kept, by outcome: at most [`MAX_CASES`] in all.
#[derive(Default)]
struct Kept {
    by_outcome: [Vec<TestCase>; 4],
}

impl Kept {
    fn len(&self) -> usize {
        self.by_outcome.iter().map(Vec::len).sum()
    }

    /// Keeps `case` if there is room, or room can be made by letting a case of a later
    /// outcome go (a failure displaces a passed case).
    fn keep(&mut self, case: TestCase, budget: &mut Budget) -> Result<(), Exceeded> {
        let rank = case.outcome as usize;
        if self.len() >= MAX_CASES {
            let Some(later) = (rank + 1..4).rev().find(|&r| !self.by_outcome[r].is_empty()) else { return Ok(()) };
            let dropped = self.by_outcome[later].pop().expect("not empty");
            budget.release(dropped.weight());
        }
        budget.hold(case.weight())?;
        self.by_outcome[rank].push(case);
        Ok(())
    }
}

/// Reads a JUnit report; `None` when the XML is something else or cannot be read.
pub fn parse_junit(bytes: &[u8], budget: &mut Budget) -> Option<JUnitReport> {
    let (kept, counts, stopped) = read(bytes, budget, Kept::default())?;
    let mut cases = Vec::with_capacity(kept.len());
    for outcome in kept.by_outcome {
        cases.extend(outcome);
    }
    Some(JUnitReport {
        cases,
        total: counts.iter().sum(),
        failed: counts[TestOutcome::Failed as usize],
        errors: counts[TestOutcome::Error as usize],
        skipped: counts[TestOutcome::Skipped as usize],
        stopped,
    })
}

/// A report's every case, in its order, to store as a build's test results; with where and
/// why the reader stopped before the end. `None` when the XML is not a JUnit report.
pub fn read_test_results(bytes: &[u8], budget: &mut Budget) -> Option<(Vec<TestCase>, Option<String>)> {
    let (every, _, stopped) = read(bytes, budget, Every::default())?;
    Some((every.0, stopped))
}

/// Reads a report into `sink`: the sink, the counts by outcome, and where the reader stopped.
fn read<S: Sink>(bytes: &[u8], budget: &mut Budget, sink: S) -> Option<(S, [usize; 4], Option<String>)> {
    let mut reader = Reader {
        xml: quick_xml::Reader::from_reader(bytes),
        seen_root: false,
        suites: Vec::new(),
        case: None,
        in_outcome: false,
        output: None,
        sink,
        counts: [0; 4],
    };
    reader.xml.config_mut().trim_text(false);
    let stopped = match reader.read(budget) {
        Ok(()) => None,
        Err(Stop::NotJUnit) => return None,
        Err(Stop::Budget(why)) => {
            Some(format!("Read up to byte {} of {}: {why}.", reader.xml.buffer_position(), bytes.len()))
        }
    };
    if !reader.seen_root {
        return None;
    }
    Some((reader.sink, reader.counts, stopped))
}

enum Stop {
    NotJUnit,
    Budget(Exceeded),
}

impl From<Exceeded> for Stop {
    fn from(e: Exceeded) -> Self {
        Stop::Budget(e)
    }
}

struct Reader<'a, S> {
    xml: quick_xml::Reader<&'a [u8]>,
    seen_root: bool,
    suites: Vec<Arc<str>>,
    case: Option<TestCase>,
    /// Inside a <failure>, <error> or <skipped>: its text is the case's detail.
    in_outcome: bool,
    /// Inside a case's <system-out>: its text so far (read for attachments).
    output: Option<String>,
    sink: S,
    counts: [usize; 4],
}

impl<S: Sink> Reader<'_, S> {
    fn read(&mut self, budget: &mut Budget) -> Result<(), Stop> {
        let mut position = 0;
        loop {
            let event = self.xml.read_event().map_err(|_| Stop::NotJUnit)?;
            let now = self.xml.buffer_position() as usize;
            budget.read(now - position)?;
            position = now;
            match event {
                Event::Start(e) => self.element(&e, false, budget)?,
                Event::Empty(e) => self.element(&e, true, budget)?,
                Event::Text(t) if self.in_outcome || self.output.is_some() => {
                    let text = t.decode().map_or_else(|_| lossy(&t), std::borrow::Cow::into_owned);
                    let text = quick_xml::escape::unescape(&text).map(std::borrow::Cow::into_owned).unwrap_or(text);
                    self.detail(&text);
                }
                Event::CData(t) if self.in_outcome || self.output.is_some() => self.detail(&lossy(&t)),
                Event::GeneralRef(r) if self.in_outcome || self.output.is_some() => {
                    let resolved =
                        quick_xml::escape::unescape(&format!("&{};", lossy(&r))).map(std::borrow::Cow::into_owned);
                    self.detail(&resolved.unwrap_or_default());
                }
                Event::End(e) => match e.name().as_ref() {
                    b"testcase" => {
                        if let Some(case) = self.case.take() {
                            self.finish(case, budget)?;
                        }
                    }
                    b"system-out" => {
                        if let (Some(output), Some(case)) = (self.output.take(), self.case.as_mut()) {
                            case.attachments.extend(attachments(&output));
                            case.attachments.truncate(MAX_ATTACHMENTS);
                        }
                    }
                    b"testsuite" => {
                        if let Some(name) = self.suites.pop() {
                            budget.release(name.len() + SUITE_OVERHEAD);
                        }
                    }
                    b"failure" | b"error" | b"skipped" => self.in_outcome = false,
                    _ => {}
                },
                Event::Eof => return Ok(()),
                _ => {}
            }
        }
    }

    /// Text inside a case's outcome (its detail) or its `<system-out>`.
    fn detail(&mut self, text: &str) {
        if let Some(output) = self.output.as_mut() {
            push_bounded(output, text, MAX_OUTPUT);
        } else if let Some(case) = self.case.as_mut() {
            push_bounded(&mut case.detail, text, MAX_DETAIL);
        }
    }

    fn element(&mut self, e: &BytesStart, empty: bool, budget: &mut Budget) -> Result<(), Stop> {
        let name = e.name();
        let name = name.as_ref();
        if !self.seen_root {
            if name != b"testsuites" && name != b"testsuite" {
                return Err(Stop::NotJUnit);
            }
            self.seen_root = true;
        }
        match name {
            b"testsuite" if !empty => {
                let mut suite = attr(e, b"name");
                if suite.len() > MAX_SUITE {
                    let mut cut = String::new();
                    push_bounded(&mut cut, &suite, MAX_SUITE);
                    suite = cut;
                }
                let suite: Arc<str> = suite.into();
                budget.hold(suite.len() + SUITE_OVERHEAD)?;
                self.suites.push(suite);
            }
            b"testcase" => {
                budget.element()?;
                let case = TestCase {
                    suite: self.suites.last().cloned().unwrap_or_else(|| Arc::from("")),
                    class_name: attr(e, b"classname"),
                    name: attr(e, b"name"),
                    file: attr(e, b"file"),
                    time: attr(e, b"time").parse().ok(),
                    outcome: TestOutcome::Passed,
                    message: String::new(),
                    detail: String::new(),
                    attachments: Vec::new(),
                };
                if empty {
                    self.finish(case, budget)?;
                } else if let Some(unclosed) = self.case.replace(case) {
                    self.finish(unclosed, budget)?;
                }
            }
            b"system-out" if !empty && self.case.is_some() => self.output = Some(String::new()),
            b"failure" | b"error" | b"skipped" => {
                if let Some(case) = self.case.as_mut() {
                    let outcome = match name {
                        b"failure" => TestOutcome::Failed,
                        b"error" => TestOutcome::Error,
                        _ => TestOutcome::Skipped,
                    };
                    // A case with a failure and a skip counts as failed.
                    case.outcome = case.outcome.min(outcome);
                    if case.message.is_empty() {
                        let message = attr(e, b"message");
                        case.message = if message.is_empty() { attr(e, b"type") } else { message };
                    }
                    self.in_outcome = !empty;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn finish(&mut self, case: TestCase, budget: &mut Budget) -> Result<(), Exceeded> {
        let outcome = case.outcome as usize;
        self.output = None;
        self.sink.case(case, budget)?;
        self.counts[outcome] += 1;
        Ok(())
    }
}

/// The attachments a case's output names: Playwright's JUnit reporter writes a line
/// `[[ATTACHMENT|path]]` for each file of a test (screenshots, traces, videos).
fn attachments(output: &str) -> impl Iterator<Item = String> + '_ {
    output.split("[[ATTACHMENT|").skip(1).filter_map(|rest| {
        let path = rest.split("]]").next()?.trim();
        (!path.is_empty() && path.len() <= 1024 && !path.contains(['\n', '\r'])).then(|| path.to_owned())
    })
}

/// An attribute's value, unescaped and cut to [`MAX_FIELD`]. Attributes are read without
/// quick-xml's duplicate check, which compares each attribute with every earlier one: an
/// element of a hundred thousand attributes would cost ten billion comparisons.
fn attr(e: &BytesStart, name: &[u8]) -> String {
    let Some(a) = e.attributes().with_checks(false).flatten().find(|a| a.key.as_ref() == name) else {
        return String::new();
    };
    let raw = &a.value[..a.value.len().min(4 * MAX_FIELD)];
    let value = match quick_xml::escape::unescape(&String::from_utf8_lossy(raw)) {
        Ok(v) => v.into_owned(),
        Err(_) => lossy(raw),
    };
    let mut cut = String::new();
    push_bounded(&mut cut, &value, MAX_FIELD);
    cut
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Appends `text` to `to`, up to `max` bytes in all, on a character boundary.
fn push_bounded(to: &mut String, text: &str, max: usize) {
    let room = max.saturating_sub(to.len());
    let mut end = text.len().min(room);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    to.push_str(&text[..end]);
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::core::untrusted::Limits;

    fn roomy() -> Budget {
        Budget::new(Limits::ROOMY)
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
        let report = parse_junit(xml, &mut roomy()).unwrap();
        assert_eq!((report.total, report.failed, report.errors, report.skipped), (4, 1, 1, 1));
        let names: Vec<&str> = report.cases.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["refuses a wrong one", "boom", "later", "accepts a password"]);
        assert_eq!(report.cases[0].message, "expected 401, got 200");
        assert_eq!(report.cases[0].detail, "at login.rs:12 & more");
        assert_eq!(&*report.cases[0].suite, "login");
        assert_eq!(report.cases[0].time, Some(1.25));
        assert_eq!(report.cases[1].detail, "<trace>");
        assert_eq!(report.stopped, None);
    }

    #[test]
    fn every_case_is_read_with_its_file_and_attachments() {
        let xml = br#"<testsuites><testsuite name="checkout.spec.ts">
  <testcase name="pays" classname="checkout" file="tests/checkout.spec.ts" time="2.5">
    <failure message="expected 200"><![CDATA[Error: expected 200]]></failure>
    <system-out>
[[ATTACHMENT|test-results/pays/test-failed-1.png]]
[[ATTACHMENT|test-results/pays/trace.zip]]
</system-out>
  </testcase>
  <testcase name="lists" classname="checkout" file="tests/checkout.spec.ts"><system-out>no files</system-out></testcase>
</testsuite></testsuites>"#;
        let (cases, stopped) = read_test_results(xml, &mut roomy()).unwrap();
        assert_eq!(stopped, None);
        assert_eq!(cases.len(), 2);
        assert_eq!(cases[0].file, "tests/checkout.spec.ts");
        assert_eq!(cases[0].attachments, ["test-results/pays/test-failed-1.png", "test-results/pays/trace.zip"]);
        assert_eq!(cases[0].detail, "Error: expected 200", "the output is not the failure's detail");
        assert!(cases[1].attachments.is_empty());
        assert_eq!(cases[1].outcome, TestOutcome::Passed);
        // All of them, past the preview's cut, and within the budget.
        let many: String = (0..20_000).map(|i| format!(r#"<testcase name="t{i}"/>"#)).collect();
        let (cases, _) = read_test_results(format!("<testsuite>{many}</testsuite>").as_bytes(), &mut roomy()).unwrap();
        assert_eq!(cases.len(), 20_000);
        let mut small = Budget::new(Limits { held: 64 << 10, ..Limits::ROOMY });
        let (cases, stopped) =
            read_test_results(format!("<testsuite>{many}</testsuite>").as_bytes(), &mut small).unwrap();
        assert!(cases.len() < 20_000 && stopped.is_some());
    }

    #[test]
    fn other_xml_and_hostile_xml_are_not_reports() {
        assert_eq!(parse_junit(b"<svg><testcase/></svg>", &mut roomy()), None);
        assert_eq!(parse_junit(b"not xml at all <", &mut roomy()), None);
        // An external entity is never fetched nor expanded.
        let xxe = br#"<?xml version="1.0"?><!DOCTYPE t [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<testsuite name="s"><testcase name="c"><failure message="m">&x;</failure></testcase></testsuite>"#;
        let report = parse_junit(xxe, &mut roomy()).unwrap();
        assert!(!report.cases[0].detail.contains("root:"), "{:?}", report.cases[0].detail);
    }

    /// The report that took a server past 3 GiB: a suite name of 1 MiB over 300,000 cases.
    #[test]
    fn a_long_suite_name_is_kept_once_and_cases_past_the_cut_are_only_counted() {
        let name = "s".repeat(1 << 20);
        let mut xml = format!(r#"<testsuite name="{name}">"#);
        for i in 0..300_000 {
            xml.push_str(&format!(r#"<testcase name="t{i}"/>"#));
        }
        xml.push_str(r#"<testcase name="late"><failure message="boom"/></testcase></testsuite>"#);
        let mut budget = Budget::new(Limits { held: 4 << 20, ..Limits::ROOMY });
        let report = parse_junit(xml.as_bytes(), &mut budget).unwrap();
        assert_eq!(report.stopped, None);
        assert_eq!((report.total, report.failed), (300_001, 1));
        assert_eq!(report.cases.len(), MAX_CASES);
        assert_eq!(report.cases[0].name, "late", "a late failure displaces a passed case");
        assert_eq!(report.cases[0].suite.len(), MAX_SUITE, "names are cut");
        assert!(Arc::ptr_eq(&report.cases[0].suite, &report.cases[1].suite), "one copy of the suite's name");
    }

    #[test]
    fn the_budget_stops_the_reader_and_it_says_where() {
        let mut xml = String::from("<testsuite>");
        for i in 0..1000 {
            xml.push_str(&format!(
                r#"<testcase name="t{i}"><failure message="m">{}</failure></testcase>"#,
                "x".repeat(500)
            ));
        }
        xml.push_str("</testsuite>");
        let mut budget = Budget::new(Limits { held: 64 << 10, ..Limits::ROOMY });
        let report = parse_junit(xml.as_bytes(), &mut budget).unwrap();
        let stopped = report.stopped.unwrap();
        assert!(stopped.starts_with("Read up to byte ") && stopped.contains("64 KiB of memory"), "{stopped}");
        assert!(report.total < 1000 && report.total == report.cases.len(), "{}", report.total);

        let mut budget = Budget::new(Limits { elements: 10, ..Limits::ROOMY });
        let report = parse_junit(xml.as_bytes(), &mut budget).unwrap();
        assert_eq!(report.total, 10);
        assert!(report.stopped.unwrap().contains("more than 10 entries"));
    }

    #[test]
    fn many_attributes_are_read_in_linear_time() {
        let attrs: String = (0..200_000).map(|i| format!(" a{i}=\"x\"")).collect();
        let xml = format!(r#"<testsuite><testcase{attrs} name="n"/></testsuite>"#);
        let started = std::time::Instant::now();
        let report = parse_junit(xml.as_bytes(), &mut roomy()).unwrap();
        assert_eq!(report.cases[0].name, "n");
        // Quadratic, this is minutes; linear, milliseconds. The bound is loose for busy hosts.
        assert!(started.elapsed() < Duration::from_secs(20), "{:?}", started.elapsed());
    }
}
