//! A zoo of hostile artifacts (`server/tests/zoo.py`: one of each kind the readers must
//! survive) stored by two builds of a public project on a real `vitrine serve` process, then
//! opened through every route that reads them: previews, archives as folders, the image
//! comparison, a folder's zip, an archive member on the artifacts origin. Each answer comes
//! with its status (a result with a note where it stopped, or a refusal in words), in bounded
//! time, and the server's memory stays bounded while it answers. The load version, with
//! clients at once and timed health checks, is `bench/hostile.sh`.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::*;

/// A request's time limit here: far above what the bench asks (2 s), far below a hang.
const SLOW: Duration = Duration::from_secs(30);
/// The server's memory may grow this much over the zoo (the bench's goal is 256 MiB).
const MEMORY_GROWTH: u64 = 512 << 20;

/// `VmRSS` or `VmHWM` (its peak) of a process, in bytes.
fn memory(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
}

struct Zoo {
    server: ServerProcess,
    http: reqwest::Client,
    answers: Vec<(String, u16, Duration)>,
}

impl Zoo {
    async fn file(&mut self, build: i64, path: &str) -> (u16, Value) {
        let started = Instant::now();
        let path = format!("$CIRCLE_ARTIFACTS/{path}");
        let (status, value) =
            server_fn(&self.http, &self.server.url, "file", None, &file_args("zoo", build, &path)).await;
        self.answers.push((format!("file {path}"), status, started.elapsed()));
        (status, value)
    }

    async fn browse(&mut self, folder: &str) -> (u16, Value) {
        let started = Instant::now();
        let args = browse_args("zoo", 0, folder, "", "");
        let (status, value) = server_fn(&self.http, &self.server.url, "browse", None, &args).await;
        self.answers.push((format!("browse {}", &folder[..folder.len().min(60)]), status, started.elapsed()));
        (status, value)
    }

    async fn get(&mut self, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
        let started = Instant::now();
        let mut request = self.http.get(format!("{}{path}", self.server.url));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        self.answers.push((format!("GET {path}"), response.status().as_u16(), started.elapsed()));
        response
    }
}

fn refusal(value: &Value) -> String {
    value["BadRequest"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zoo_of_hostile_artifacts_costs_the_server_a_bounded_budget() {
    let work = tempfile::tempdir().unwrap();
    let zoo = work.path().join("zoo");
    let made = std::process::Command::new("python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/zoo.py"))
        .arg(&zoo)
        .status()
        .expect("python3 runs");
    assert!(made.success(), "the zoo is written");

    let data = work.path().join("data");
    let server = ServerProcess::start(&data, test_database().await).await;
    let admin = |args: &[&str]| {
        let mut command = std::process::Command::new(BIN);
        command.args(["admin", "--data-dir", data.to_str().unwrap()]);
        if let Some(url) = &server.database_url {
            command.args(["--database-url", url]);
        }
        command.args(args).output().unwrap()
    };
    assert_ok(&admin(&["project", "add", "gh/acme/zoo", "--public"]));
    let token = last_line(&admin(&["project", "token", "gh/acme/zoo"]));
    for build in ["first", "second"] {
        let copy = format!("cp -r {}/. \"$CIRCLE_ARTIFACTS\"/", zoo.join(build).display());
        let out = std::process::Command::new(BIN)
            .args(["run", "--server", &server.url, "--token", &token, "--project", "gh/acme/zoo", "--branch", "main"])
            .args(["--", "bash", "-ec", &copy])
            .output()
            .unwrap();
        assert_ok(&out);
    }

    let pid = server.child.id().unwrap();
    let idle = memory(pid, "VmRSS");
    // The peak from here on.
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").unwrap();
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let mut z = Zoo { server, http, answers: Vec::new() };

    // A 1 MiB suite name over 250,000 cases: read, counted, cut to the cases a page shows.
    let (status, bomb) = z.file(1, "junit/bomb.xml").await;
    assert_eq!(status, 200, "{bomb}");
    let report = &bomb["preview"]["JUnit"];
    assert_eq!(report["total"], 250_000, "{}", report["stopped"]);
    assert!(report["cases"].as_array().unwrap().len() <= 5_000);
    assert!(report["cases"][0]["suite"].as_str().unwrap().len() <= 256, "names are cut");
    for path in ["junit/attributes.xml", "junit/deep.xml"] {
        let (status, answer) = z.file(1, path).await;
        assert_eq!(status, 200, "{path}: {answer}");
        assert_eq!(answer["preview"]["JUnit"]["total"], 1, "{path}");
    }
    let (status, laughs) = z.file(1, "junit/laughs.xml").await;
    assert_eq!(status, 200);
    let detail = laughs["preview"]["JUnit"]["cases"][0]["detail"].as_str().unwrap_or_default();
    assert!(detail.len() < 100, "entities are not expanded: {} bytes", detail.len());

    // Nested arrays: laid out up to four times their size, then a note says where it stopped.
    let (status, json) = z.file(1, "data/nested.json").await;
    assert_eq!(status, 200);
    let text = json["preview"]["Json"]["text"].as_str().unwrap();
    assert!(text.len() <= 4 * 1_005_001, "{} bytes of preview", text.len());
    assert!(json["preview"]["Json"]["stopped"].as_str().unwrap().starts_with("Shown up to byte"));

    // A colour at every character: stopped at the output budget. A progress bar redrawn
    // 130,000 times: its last state.
    let (status, log) = z.file(1, "logs/colours.log").await;
    assert_eq!(status, 200);
    assert_eq!(log["preview"]["Text"]["truncated"], true);
    let (status, log) = z.file(1, "logs/progress.log").await;
    assert_eq!(status, 200);
    let runs = log["preview"]["Text"]["runs"].as_array().unwrap();
    let shown: String = runs.iter().map(|r| r["text"].as_str().unwrap()).collect();
    assert_eq!(shown, "129999%\n");

    // A wide screenshot against a tall one: refused from their headers.
    let (status, _) = z.file(2, "screens/home.png").await;
    assert_eq!(status, 200);
    let compare = z.get("/gh/acme/zoo/2/compare/0/$CIRCLE_ARTIFACTS/screens/home.png", &[]).await;
    assert_eq!(compare.status(), 400);
    let why = compare.text().await.unwrap();
    assert!(why.contains("together cover 7999 x 7999 pixels"), "{why}");

    // Archives as folders: a directory of 120,000 entries opens; the others are refused in words.
    let (status, many) = z.browse("$CIRCLE_ARTIFACTS/archives/many.zip/").await;
    assert_eq!(status, 200, "{many}");
    assert_eq!(many["entries"].as_array().unwrap().len(), 200, "its first page");
    for (archive, words) in [
        ("lying.zip", "cannot be opened as a folder"),
        ("longname.tar", "ends in the middle"),
        ("pax.tar", "ends in the middle"),
        ("bomb.tar.gz", "longer than the"),
    ] {
        let (status, answer) = z.browse(&format!("$CIRCLE_ARTIFACTS/archives/{archive}/")).await;
        assert_eq!(status, 400, "{archive}: {answer}");
        assert!(refusal(&answer).contains(words), "{archive}: {answer}");
        eprintln!("{archive}: {}", refusal(&answer));
        // Refusals are kept: the second time costs no reading.
        let again = Instant::now();
        assert_eq!(z.browse(&format!("$CIRCLE_ARTIFACTS/archives/{archive}/")).await.0, 400);
        assert!(again.elapsed() < SLOW);
    }
    // 256 MiB of zeros, deflated: the preview inflates its first MiB and no more.
    let (status, member) = z.file(1, "archives/bomb.zip/zeros.txt").await;
    assert_eq!(status, 200, "{member}");
    assert_eq!(member["preview"], "Download", "zeros are not text");

    // A folder of a million slashes: refused by its length, at once.
    let (status, slashes) = z.browse(&"/".repeat(1_000_000)).await;
    assert_eq!(status, 400, "{slashes}");

    // A folder's zip goes out as it is, never gzipped again.
    let zip =
        z.get("/gh/acme/zoo/1/download/0?folder=%24CIRCLE_ARTIFACTS%2Fzeros%2F", &[("Accept-Encoding", "gzip")]).await;
    assert_eq!(zip.status(), 200);
    assert_eq!(zip.headers().get("content-encoding"), None);
    assert!(zip.bytes().await.unwrap().len() > 32 << 20);

    assert!(z.get("/healthz", &[]).await.status().is_success(), "the server still serves");
    let peak = memory(pid, "VmHWM");
    for (what, status, took) in &z.answers {
        eprintln!("{status} in {:>6} ms  {what}", took.as_millis());
        assert!(*took < SLOW, "{what} took {took:?}");
    }
    eprintln!("memory: idle {} MiB, peak {} MiB", idle >> 20, peak >> 20);
    assert!(peak.saturating_sub(idle) < MEMORY_GROWTH, "peak {} MiB over idle {} MiB", peak >> 20, idle >> 20);
}
