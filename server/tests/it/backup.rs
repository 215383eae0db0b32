//! `vitrine admin backup` while builds upload, and `vitrine admin restore` into an empty data
//! dir: the restored server lists what the backup held and serves every byte of it.

use std::collections::BTreeSet;

use crate::common::*;

/// What build `b`'s file `i` holds: its own name, so a byte served for the wrong file shows.
const SCRIPT: &str = r#"for i in $(seq 1 40); do echo "build $CIRCLE_BUILD_NUM file $i" > "$CIRCLE_ARTIFACTS/f$i.txt"; done
head -c 300000 /dev/urandom > "$CIRCLE_ARTIFACTS/random.bin""#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_under_upload_load_restores_every_listed_byte() {
    let f = TestApp::with_projects().await;
    let a = &f.app;
    let data_dir = a.data_dir().to_string_lossy().into_owned();
    if let Some(database) = &a.database_url {
        // PostgreSQL is backed up with its own tools (README, Backups).
        let dest = tempfile::tempdir().unwrap();
        let args = ["admin", "--data-dir", &data_dir, "--database-url", database, "backup", "b"];
        let out = a.vitrine(dest.path(), &args, &[]).await;
        assert!(!out.status.success() && stderr(&out).contains("pg_dump"), "{}", stderr(&out));
        return;
    }
    assert_ok(&a.run_build(&f.private_build_token, "gh/acme/secret", "main", SCRIPT).await);

    // Builds keep uploading, one after another, from before the backup starts until after it
    // is done.
    let (started, mut first) = tokio::sync::watch::channel(0u32);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let (url, token, stop) = (a.url.clone(), f.private_build_token.clone(), stop.clone());
        tokio::spawn(async move {
            let mut builds = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let cwd = tempfile::tempdir().unwrap();
                let run = tokio::process::Command::new(BIN)
                    .args(["run", "--server", &url, "--token", &token, "--project", "gh/acme/secret"])
                    .args(["--branch", "main", "--", "bash", "-ec", SCRIPT])
                    .current_dir(cwd.path())
                    .output();
                started.send_replace(builds + 1);
                assert_ok(&run.await.unwrap());
                builds += 1;
            }
            builds
        })
    };
    first.wait_for(|n| *n >= 1).await.unwrap();
    let backups = tempfile::tempdir().unwrap();
    let dest = backups.path().join("backup");
    let out = a.admin(&["backup", &dest.to_string_lossy()]).await;
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(said.contains("object(s) the database lists are in it"), "{said}");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let during = load.await.unwrap();
    assert!(during >= 1, "builds uploaded while the backup was taken");
    // A backup never mixes with older files.
    let again = a.vitrine(backups.path(), &["admin", "--data-dir", &data_dir, "backup", "backup"], &[]).await;
    assert!(!again.status.success() && stderr(&again).contains("not empty"), "{}", stderr(&again));

    // Restored into an empty data dir, by the command, and served.
    let restored = tempfile::tempdir().unwrap();
    let data = restored.path().join("data");
    let restore =
        ["admin", "--data-dir", &data.to_string_lossy(), "restore", &dest.to_string_lossy()].map(str::to_owned);
    let restore: Vec<&str> = restore.iter().map(String::as_str).collect();
    assert_ok(&a.vitrine(restored.path(), &restore, &[]).await);
    let into_used = a.vitrine(restored.path(), &restore, &[]).await;
    assert!(!into_used.status.success() && stderr(&into_used).contains("not empty"), "{}", stderr(&into_used));
    let b = vitrine::serve::start(test_config(&data, UploadSettings::default())).await.unwrap();

    // Every build the backup holds is there, a finished one with its 41 files; every byte of
    // every listed file is served.
    let builds = format!("{}/api/v1.1/project/gh/acme/secret", b.public_url);
    let listed = json_at(&a.http, &builds, &f.member_token).await;
    let finished: BTreeSet<i64> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["status"] == "success")
        .map(|b| b["build_num"].as_i64().unwrap())
        .collect();
    assert!(finished.contains(&1), "the build finished before the backup is in it: {listed}");
    let numbers: Vec<i64> = listed.as_array().unwrap().iter().map(|b| b["build_num"].as_i64().unwrap()).collect();
    let mut files = 0;
    for num in &numbers {
        let artifacts = json_at(&a.http, &format!("{builds}/{num}/artifacts"), &f.member_token).await;
        if finished.contains(num) {
            assert_eq!(artifacts.as_array().unwrap().len(), 41, "build {num}");
        }
        for artifact in artifacts.as_array().unwrap() {
            let (path, url) = (artifact["pretty_path"].as_str().unwrap(), artifact["url"].as_str().unwrap());
            let (_, bytes) = a.download(url, Some(&f.member_token)).await;
            assert_eq!(bytes.len() as u64, artifact["size"].as_u64().unwrap(), "{path}");
            if let Some(i) = path.strip_suffix(".txt").and_then(|p| p.rsplit_once("/f")).map(|(_, i)| i) {
                assert_eq!(String::from_utf8(bytes).unwrap(), format!("build {num} file {i}\n"));
            }
            files += 1;
        }
    }
    assert!(files >= 41, "{files} files");
    b.stop.send(true).unwrap();
}
