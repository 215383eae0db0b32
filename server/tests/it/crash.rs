//! A server killed with SIGKILL while agents upload loses nothing: the agents retry, the
//! restarted server and store pick up where they stood, and every file ends up listed once,
//! with the right bytes. A store step run again sends only what is missing.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use rand::RngCore;
use serde_json::{Value, json};
use vitrine_wire::agent::{PROTOCOL_HEADER, PROTOCOL_VERSION};

use crate::common::*;

async fn admin(server: &ServerProcess, data: &Path, args: &[&str]) -> String {
    let out = tokio::process::Command::new(BIN)
        .arg("admin")
        .arg("--data-dir")
        .arg(data)
        .args(server.database_url.iter().flat_map(|url| ["--database-url", url.as_str()]))
        .args(args)
        .output()
        .await
        .unwrap();
    assert_ok(&out);
    last_line(&out)
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// `count` files of random content under `dir`; answers (name, sha256) of each.
fn random_files(dir: &Path, count: usize, size: usize) -> Vec<(String, String)> {
    std::fs::create_dir_all(dir).unwrap();
    let mut rng = rand::thread_rng();
    (0..count)
        .map(|i| {
            let mut bytes = vec![0u8; size];
            rng.fill_bytes(&mut bytes);
            let name = format!("f{i:04}.bin");
            std::fs::write(dir.join(&name), &bytes).unwrap();
            (name, sha256(&bytes))
        })
        .collect()
}

/// How many files are under `dir` (none when it does not exist yet).
fn files_under(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => files_under(&e.path()),
            Ok(_) => 1,
            Err(_) => 0,
        })
        .sum()
}

async fn listing(url: &str, build: i64) -> Vec<Value> {
    let r = reqwest::get(format!("{url}/api/v1.1/project/gh/acme/crash/{build}/artifacts")).await;
    match r {
        Ok(r) if r.status().is_success() => r.json::<Value>().await.unwrap().as_array().cloned().unwrap_or_default(),
        _ => Vec::new(),
    }
}

fn store_step(url: &str, token: &str, dir: &Path, node: usize) -> tokio::process::Child {
    tokio::process::Command::new(BIN)
        .args(["store-artifacts", "--server", url, "--project", "gh/acme/crash", "--build-num", "1"])
        .args(["--node-index", &node.to_string(), "--destination", &format!("node{node}"), "--path"])
        .arg(dir)
        .env("VITRINE_TOKEN", token)
        .env("VITRINE_RETRY_FOR", "90s")
        .env_remove("VITRINE_URL")
        .env_remove("CIRCLE_BUILD_NUM")
        .env_remove("CIRCLE_NODE_INDEX")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_during_parallel_uploads_loses_nothing() {
    const AGENTS: usize = 4;
    const FILES: usize = 300;
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let mut server = ServerProcess::start(&data, test_database().await).await;
    // What the server writes is its user's alone.
    use std::os::unix::fs::PermissionsExt;
    for file in ["embedded-s3.env", "store"] {
        let mode = std::fs::metadata(data.join(file)).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{file} is {mode:o}");
    }
    admin(&server, &data, &["project", "add", "gh/acme/crash", "--public"]).await;
    let token = admin(&server, &data, &["project", "token", "gh/acme/crash"]).await;
    let r = reqwest::Client::new()
        .post(format!("{}/api/agent/projects/gh/acme/crash/builds", server.url))
        .header("Circle-Token", &token)
        .header(PROTOCOL_HEADER, PROTOCOL_VERSION.to_string())
        .json(&json!({"branch": "main", "node_total": AGENTS}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);

    let expected: Vec<Vec<(String, String)>> =
        (0..AGENTS).map(|n| random_files(&work.path().join(format!("n{n}")), FILES, 48 * 1024)).collect();
    let agents: Vec<_> =
        (0..AGENTS).map(|n| store_step(&server.url, &token, &work.path().join(format!("n{n}")), n)).collect();

    // Kill the server (and its embedded store) as soon as the first files reach the store or
    // the listing, whichever is seen first: on a busy machine a whole node's files can be
    // confirmed between two looks at the listing.
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut stored, mut listed) = (0, 0);
    while Instant::now() < deadline {
        stored = files_under(&data.join("store").join("buckets"));
        listed = listing(&server.url, 1).await.len();
        if stored > 0 || listed > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.kill_and_restart(Duration::from_secs(2)).await;
    assert!(stored > 0 || listed > 0, "no file reached the store within a minute");
    assert!(
        stored.min(listed) < AGENTS * FILES,
        "the kill came after every file was stored ({stored} in the store, {listed} listed): nothing was tested"
    );

    for agent in agents {
        let out = agent.wait_with_output().await.unwrap();
        assert_ok(&out);
    }
    let list = listing(&server.url, 1).await;
    assert_eq!(list.len(), AGENTS * FILES, "every file listed once");
    let http = reqwest::Client::new();
    for (node, files) in expected.iter().enumerate() {
        for (name, sha) in files {
            let path = format!("node{node}/{name}");
            let entry = list
                .iter()
                .find(|a| a["node_index"] == node && a["pretty_path"] == path.as_str())
                .unwrap_or_else(|| panic!("{path} of node {node} is listed"));
            let bytes = http.get(entry["url"].as_str().unwrap()).send().await.unwrap().bytes().await.unwrap();
            assert_eq!(&sha256(&bytes), sha, "{path} has the bytes that were uploaded");
        }
    }

    // Run again: everything is already kept, nothing is sent again.
    let out = store_step(&server.url, &token, &work.path().join("n0"), 0).wait_with_output().await.unwrap();
    assert_ok(&out);
    assert!(stderr(&out).contains(&format!("({FILES} already kept, not sent again)")), "{}", stderr(&out));
}
