//! Data outlives releases: what an earlier release left on disk, made by that release's own
//! binary (scripts/upgrade-fixture.sh, one folder per release under tests/fixtures/upgrade),
//! is served by this one after its migrations: listings, bytes, tokens, sessions, and builds
//! stored on top. On SQLite (a data dir) and, in the PostgreSQL stage, on a dump of that
//! release's PostgreSQL database. Before a release that changes the schema or the data dir
//! ships, the release it follows gets a folder here (`0.1.0-6acfddf`: made by the binary of
//! commit 6acfddf, before migrations sqlite 0012 and postgres 0009).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::common::*;

fn fixtures() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/upgrade");
    let mut found: Vec<PathBuf> =
        std::fs::read_dir(&root).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect();
    found.sort();
    assert!(!found.is_empty(), "no upgrade fixture in {}", root.display());
    found
}

fn read_env(fixture: &Path) -> HashMap<String, String> {
    std::fs::read_to_string(fixture.join("fixture.env"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect()
}

fn untar(archive: &Path, into: &Path) {
    let status = std::process::Command::new("tar").arg("-xzf").arg(archive).arg("-C").arg(into).status().unwrap();
    assert!(status.success(), "tar -xzf {}", archive.display());
}

/// Loads a pg_dump into the empty database at `url` with psql.
fn psql(url: &str, dump: &Path) {
    let out = std::process::Command::new("bash")
        .args(["-c", r#"psql=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)/psql; "$psql" -X -q -v ON_ERROR_STOP=1 "$0" -f "$1""#])
        .arg(url)
        .arg(dump)
        .output()
        .unwrap();
    assert!(out.status.success(), "psql: {}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_earlier_releases_stored_is_served_by_this_one() {
    for fixture in fixtures() {
        // A database of its own per fixture (none: SQLite in the data dir).
        let database = test_database().await;
        let env = read_env(&fixture);
        let data = tempfile::tempdir().unwrap();
        let prefix = if let Some(url) = &database {
            psql(url, &fixture.join("postgres.sql"));
            untar(&fixture.join("postgres-data.tar.gz"), data.path());
            "POSTGRES"
        } else {
            untar(&fixture.join("sqlite.tar.gz"), data.path());
            "SQLITE"
        };
        let secret = |name: &str| env[&format!("{prefix}_{name}")].clone();
        let made_at: i64 = env["MADE_AT"].parse().unwrap();
        let running = vitrine::serve::start(vitrine::serve::ServeConfig {
            database_url: database.clone(),
            ..test_config(data.path(), UploadSettings::default())
        })
        .await
        .unwrap_or_else(|e| panic!("{}: this release does not serve it: {e:#}", fixture.display()));
        let url = &running.public_url;
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let (reader, name) = (secret("READER_TOKEN"), fixture.display().to_string());

        // The personal token still signs alice in, and the private project lists both builds.
        let me = json_at(&http, &format!("{url}/api/v1.1/me"), &reader).await;
        assert_eq!(me["login"], "alice", "{name}: {me}");
        let project = format!("{url}/api/v1.1/project/gh/fixture/app");
        let builds = json_at(&http, &project, &reader).await;
        assert_eq!(builds.as_array().map(Vec::len), Some(2), "{name}: {builds}");

        // Every byte the old release stored is served.
        let get = |path: &str| {
            let route = format!("{project}/1/artifacts/0/$CIRCLE_ARTIFACTS/{path}");
            let (http, reader) = (http.clone(), reader.clone());
            async move {
                let r = http.get(&route).header("Circle-Token", &reader).send().await.unwrap();
                assert_eq!(r.status().as_u16(), 302, "{route}");
                let location = r.headers()["location"].to_str().unwrap().to_owned();
                reqwest::get(&location).await.unwrap().bytes().await.unwrap()
            }
        };
        assert_eq!(get("hello.txt").await.as_ref(), b"stored by the previous release\n", "{name}");
        let png = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../demo/screenshots/home.png")).unwrap();
        assert_eq!(get("home.png").await.as_ref(), png.as_slice(), "{name}");
        assert_eq!(get("report/index.html").await.as_ref(), b"<h1>Report</h1>\n", "{name}");

        // The browser session still opens the private build page, while it has days to go.
        let page = http
            .get(format!("{url}/gh/fixture/app/1"))
            .header("Cookie", secret("SESSION_COOKIE"))
            .send()
            .await
            .unwrap();
        let session_left = made_at + 29 * 86_400 - chrono::Utc::now().timestamp();
        if session_left > 0 {
            assert_eq!(page.status().as_u16(), 200, "{name}: the session no longer signs alice in");
            assert!(page.text().await.unwrap().contains("hello.txt"), "{name}");
        }

        // The build token stores a build on top, numbered after the old ones.
        let cwd = tempfile::tempdir().unwrap();
        let out = tokio::process::Command::new(BIN)
            .args(["run", "--server", url, "--token", &secret("BUILD_TOKEN"), "--project", "gh/fixture/app"])
            .args(["--branch", "main", "--", "bash", "-ec", "echo new > \"$CIRCLE_ARTIFACTS/new.txt\""])
            .current_dir(cwd.path())
            .output()
            .await
            .unwrap();
        assert_ok(&out);
        let third = json_at(&http, &format!("{project}/3"), &reader).await;
        assert_eq!(third["status"], "success", "{name}: {third}");
        running.stop.send(true).unwrap();
        let _ = running.server.await;
    }
}
