//! An opened artifact in the Artifacts tab: its facts (size, type, SHA-256), links to its
//! bytes, and what the page can show of it: a log with its colours, pretty JSON, a JUnit
//! report as a table with failures first, an image. All of it is rendered as text: nothing a
//! build uploaded becomes markup on the app's origin.

use leptos::prelude::*;

use crate::api::{FileView, JUnitView, PreviewView, TestCaseView, TextRun};
use crate::format::human_size;

#[component]
pub fn FilePreview(file: FileView) -> impl IntoView {
    let FileView { artifact, sha256, preview } = file;
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
        PreviewView::Json { text } => {
            view! { <pre class="log json" aria-label=format!("Contents of {name}") tabindex="0">{text}</pre> }.into_any()
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
                " It opens in a sandbox of its own, with its links to the report's other files working."
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
        </section>
    }
}

fn run(r: TextRun) -> AnyView {
    if r.class.is_empty() { r.text.into_any() } else { view! { <span class=r.class>{r.text}</span> }.into_any() }
}

#[component]
fn JUnitTable(report: JUnitView) -> impl IntoView {
    let JUnitView { cases, total, failed, errors, skipped } = report;
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
    view! {
        <p class=summary_class role="status">{parts.join(" · ")}</p>
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
    let TestCaseView { suite, class_name, name, time, outcome, message, detail } = case;
    let label = match outcome.as_str() {
        "failed" => "Failed",
        "error" => "Error",
        "skipped" => "Skipped",
        _ => "Passed",
    };
    let why = (!message.is_empty() || !detail.is_empty()).then(|| {
        let summary = if message.is_empty() { "Details".to_owned() } else { message };
        let open = outcome == "failed" || outcome == "error";
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
        <tr class=format!("case {outcome}")>
            <td><span class=format!("outcome {outcome}")>{label}</span></td>
            <td>{name}{why}</td>
            <td>{suite}</td>
            <td class="time">{time.map(|t| format!("{t:.2} s")).unwrap_or_default()}</td>
        </tr>
    }
    .into_any()
}
