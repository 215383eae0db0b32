//! An opened artifact in the Artifacts tab: its facts (size, type, SHA-256), links to its
//! bytes, and what the page can show of it: a log with its colours, pretty JSON, a JUnit
//! report as a table with failures first, an image. All of it is rendered as text: nothing a
//! build uploaded becomes markup on the app's origin.

use leptos::prelude::*;

use crate::api::{BaselineView, CompareView, FileView, JUnitView, PreviewView, TestCaseView, TestOutcome, TextRun};
use crate::format::human_size;

#[component]
pub fn FilePreview(file: FileView, href: String) -> impl IntoView {
    let FileView { artifact, sha256, preview, compare } = file;
    let compare = compare.map(|compare| view! { <Compare compare current=artifact.url.clone() href/> });
    let name = artifact.file_name().to_owned();
    let url = artifact.url.clone();
    let body = match preview {
        PreviewView::Text { runs, shown, truncated } => {
            let note = truncated.then(|| {
                view! {
                    <p class="truncated">
                        {format!("Showing the first {} of {}. ", human_size(shown), human_size(artifact.size))}
                        <a href=url.clone() rel="external">"Open the whole file"</a>
                    </p>
                }
            });
            let empty = runs.is_empty().then(|| view! { <p class="empty">"This file is empty."</p> });
            view! {
                {empty}
                <pre class="log" aria-label=format!("Contents of {name}") tabindex="0">{runs.into_iter().map(run).collect_view()}</pre>
                {note}
            }
            .into_any()
        }
        PreviewView::Json { text, stopped } => {
            let note = stopped.map(|why| {
                view! {
                    <p class="truncated">
                        {format!("{why} ")}
                        <a href=url.clone() rel="external">"Open the whole file"</a>
                    </p>
                }
            });
            view! {
                <pre class="log json" aria-label=format!("Contents of {name}") tabindex="0">{text}</pre>
                {note}
            }
            .into_any()
        }
        PreviewView::JUnit(report) => view! { <JUnitTable report/> }.into_any(),
        PreviewView::Image => view! {
            <a href=url.clone() rel="external" class="preview-image">
                <img src=url.clone() alt=artifact.pretty_path.clone()/>
            </a>
        }
        .into_any(),
        PreviewView::Page => view! {
            <p>
                <a href=url.clone() rel="external" class="button">"Open the page"</a>
                " It opens in a sandbox of its own, its links to the report's files working."
            </p>
        }
        .into_any(),
        PreviewView::Download => view! {
            <p>
                <a href=url.clone() rel="external" class="button">{format!("Download {name} ({})", human_size(artifact.size))}</a>
                " This type is not shown in the page."
            </p>
        }
        .into_any(),
    };
    view! {
        <section class="file-view" aria-labelledby="file-name">
            <header class="file-head">
                <h2 id="file-name">{name.clone()}</h2>
                <a href=url.clone() rel="external">"Open raw"</a>
                <button type="button" class="copy" data-copy=url.clone() aria-label="Copy link to this file">"Copy link"</button>
            </header>
            <dl class="file-facts">
                <dt>"Path"</dt><dd><code>{artifact.pretty_path.clone()}</code></dd>
                <dt>"Size"</dt><dd>{human_size(artifact.size)}{format!(" ({} bytes)", artifact.size)}</dd>
                <dt>"Type"</dt><dd>{artifact.content_type.clone()}</dd>
                {if sha256.is_empty() {
                    view! { <dt>"Stored"</dt><dd>"inside an archive of this build"</dd> }.into_any()
                } else {
                    view! { <dt>"SHA-256"</dt><dd><code class="digest">{sha256}</code></dd> }.into_any()
                }}
            </dl>
            {body}
            {compare}
        </section>
    }
}

/// How the two images are shown.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Side,
    Swipe,
    Diff,
}

impl Mode {
    const ALL: [Mode; 3] = [Mode::Side, Mode::Swipe, Mode::Diff];

    fn slug(self) -> &'static str {
        match self {
            Mode::Side => "side",
            Mode::Swipe => "swipe",
            Mode::Diff => "diff",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Mode::Side => "Side by side",
            Mode::Swipe => "Swipe",
            Mode::Diff => "Difference",
        }
    }
}

/// An image against the same image of the last green build: side by side, as a swipe, or
/// the changed pixels in red, with how many changed. The mode is in the URL (`&compare=`).
#[component]
fn Compare(compare: CompareView, current: String, href: String) -> impl IntoView {
    let query = leptos_router::hooks::use_query_map();
    let mode = Memo::new(move |_| match query.read().get("compare").as_deref() {
        Some("swipe") => Mode::Swipe,
        Some("diff") => Mode::Diff,
        _ => Mode::Side,
    });
    let heading = |b: &BaselineView| format!("Compared with build #{} ({}, last green)", b.build_num, b.branch);
    let (baseline, baseline_url, diff_url, summary) = match compare {
        CompareView::NoBaseline => {
            return view! {
                <section class="compare" aria-label="Comparison">
                    <p class="empty">"No earlier green build of this branch or the default branch to compare with."</p>
                </section>
            }
            .into_any();
        }
        CompareView::NotInBaseline { baseline } => {
            return view! {
                <section class="compare" aria-label="Comparison">
                    <h3>{heading(&baseline)}</h3>
                    <p class="change new">"New: build #"{baseline.build_num}" has no image at this path."</p>
                </section>
            }
            .into_any();
        }
        CompareView::Failed { baseline, baseline_url, why } => (baseline, baseline_url, None, why),
        CompareView::Compared { baseline, identical: true, baseline_url, .. } => {
            let same = format!("Identical to build #{}.", baseline.build_num);
            (baseline, baseline_url, None, same)
        }
        CompareView::Compared { baseline, baseline_url, diff_url, changed_pixels, total_pixels, resized, .. } => {
            let share = crate::format::decimal(changed_pixels.saturating_mul(100), total_pixels, 2);
            let mut text = format!("{} of {} pixels changed ({share}%).", group(changed_pixels), group(total_pixels));
            if let Some(resized) = resized {
                text.push_str(&format!(" Its size changed: {resized}."));
            }
            (baseline, baseline_url, Some(diff_url), text)
        }
    };
    let changed = diff_url.is_some();
    let modes = Mode::ALL
        .into_iter()
        .filter(|m| changed || *m == Mode::Side)
        .map(|m| {
            let link = format!("{href}&compare={}", m.slug());
            view! { <a href=link aria-current=move || (mode.get() == m).then_some("page")>{m.label()}</a> }
        })
        .collect_view();
    let then = format!("Build #{} ({})", baseline.build_num, baseline.branch);
    let position = RwSignal::new(None::<u32>);
    let stage = move || match mode.get() {
        Mode::Side => view! {
            <div class="side-by-side">
                <figure><img src=baseline_url.clone() alt=then.clone()/><figcaption>{then.clone()}</figcaption></figure>
                <figure><img src=current.clone() alt="This build"/><figcaption>"This build"</figcaption></figure>
            </div>
        }
        .into_any(),
        Mode::Swipe => view! {
            <div class="swipe">
                <img src=baseline_url.clone() alt=then.clone()/>
                <div class="swipe-top" style:width=move || position.get().map(|p| format!("{p}%"))>
                    <img src=current.clone() alt="This build"/>
                </div>
            </div>
            <label class="swipe-control">
                "Swipe between " {then.clone()} " and this build "
                <input type="range" min="0" max="100" value="50"
                    on:input=move |ev| position.set(event_target_value(&ev).parse().ok())/>
            </label>
        }
        .into_any(),
        Mode::Diff => view! {
            <figure class="diff">
                <img src=diff_url.clone().unwrap_or_default() alt="Pixels that changed, in red"/>
                <figcaption>"Changed pixels in red, over a faded copy of this build's image"</figcaption>
            </figure>
        }
        .into_any(),
    };
    let summary_class = if changed { "change changed" } else { "change same" };
    view! {
        <section class="compare" aria-label="Comparison">
            <h3>{heading(&baseline)}</h3>
            <p class=summary_class role="status">{summary}</p>
            <nav class="compare-modes" aria-label="Compare view">{modes}</nav>
            {stage}
        </section>
    }
    .into_any()
}

/// `12,345`
fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn run(r: TextRun) -> AnyView {
    if r.class.is_empty() { r.text.into_any() } else { view! { <span class=r.class>{r.text}</span> }.into_any() }
}

#[component]
fn JUnitTable(report: JUnitView) -> impl IntoView {
    let JUnitView { cases, total, failed, errors, skipped, stopped } = report;
    let passed = total - failed - errors - skipped;
    let mut parts = vec![format!("{total} tests")];
    for (count, word) in [(failed, "failed"), (errors, "errors"), (skipped, "skipped"), (passed, "passed")] {
        if count > 0 {
            parts.push(format!("{count} {word}"));
        }
    }
    let cut = (cases.len() < total)
        .then(|| view! { <p class="truncated">{format!("Showing {} of {total} test cases, failures first.", cases.len())}</p> });
    let summary_class = if failed + errors > 0 { "junit-summary bad" } else { "junit-summary ok" };
    let stopped = stopped.map(|why| view! { <p class="truncated">{why}</p> });
    view! {
        <p class=summary_class role="status">{parts.join(" · ")}</p>
        {stopped}
        {cut}
        <table class="junit">
            <caption>"Test cases, failures first"</caption>
            <thead><tr><th scope="col">"Result"</th><th scope="col">"Test"</th><th scope="col">"Suite"</th><th scope="col">"Time"</th></tr></thead>
            <tbody>{cases.into_iter().map(case_row).collect_view()}</tbody>
        </table>
    }
    .into_any()
}

fn case_row(case: TestCaseView) -> AnyView {
    let TestCaseView { suite, class_name, name, time_ms, outcome, message, detail } = case;
    let label = match outcome {
        TestOutcome::Failed => "Failed",
        TestOutcome::Error => "Error",
        TestOutcome::Skipped => "Skipped",
        TestOutcome::Passed => "Passed",
    };
    let why = (!message.is_empty() || !detail.is_empty()).then(|| {
        let summary = if message.is_empty() { "Details".to_owned() } else { message };
        let open = outcome.is_failure();
        view! {
            <details open=open>
                <summary>{summary}</summary>
                {(!detail.is_empty()).then(|| view! { <pre class="log">{detail}</pre> })}
            </details>
        }
        .into_any()
    });
    let suite = if class_name.is_empty() || class_name == suite { suite } else { format!("{suite} {class_name}") };
    view! {
        <tr class=format!("case {}", outcome.as_str())>
            <td><span class=format!("outcome {}", outcome.as_str())>{label}</span></td>
            <td>{name}{why}</td>
            <td>{suite}</td>
            <td class="time">{time_ms.map(|ms| format!("{} s", crate::format::decimal(ms, 1000, 2))).unwrap_or_default()}</td>
        </tr>
    }
    .into_any()
}
