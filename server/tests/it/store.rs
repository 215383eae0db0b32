//! The metadata store itself, on whichever store the suite runs on (SQLite by default,
//! PostgreSQL with `VITRINE_TEST_POSTGRES`): the queries that the two stores answer in their
//! own SQL, and the ones that must hold when several servers write at once.

use vitrine::domain::{ProjectSlug, Sha256};
use vitrine_store::{BuildId, Db, NewArtifact, NewBuild, ProjectId, StoreKind, ToList, Verified};

use crate::common::*;

async fn store() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), test_database().await.as_deref(), 16).await.unwrap();
    (dir, db)
}

fn new_build() -> NewBuild {
    NewBuild { branch: "main".into(), revision: "abc".into(), parallelism: 1, agent: None }
}

/// Lists `paths` in a build, as verified uploads do.
async fn list(db: &Db, project_id: ProjectId, build_id: BuildId, paths: &[&str]) {
    let sha256: Sha256 = "0".repeat(64).parse().unwrap();
    let verified: Vec<Verified> = paths
        .iter()
        .map(|path| {
            let artifact = NewArtifact {
                node_index: 0,
                path: format!("/tmp/{path}"),
                pretty_path: (*path).to_owned(),
                size: 1,
                sha256: Some(sha256.clone()),
                content_type: "text/plain".into(),
            };
            Verified {
                upload_id: uuid::Uuid::new_v4().simple().to_string(),
                build_id,
                listed: ToList {
                    artifact,
                    sha256: sha256.clone(),
                    s3_key: format!("b/{}", uuid::Uuid::new_v4().simple()),
                },
            }
        })
        .collect();
    db.record_verified(&verified, project_id).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn build_numbers_stay_unique_when_builds_start_at_once() {
    let (_dir, db) = store().await;
    let project = db.insert_project(&"gh/acme/busy".parse::<ProjectSlug>().unwrap(), false).await.unwrap();
    let starts = (0..40).map(|_| {
        let db = db.clone();
        tokio::spawn(async move { db.insert_build(project, &new_build()).await.unwrap().build_num })
    });
    let mut numbers: Vec<i64> = futures::future::join_all(starts).await.into_iter().map(|n| n.unwrap()).collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=40).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn artifact_paths_are_found_by_any_part_in_any_case() {
    let (_dir, db) = store().await;
    let project = db.insert_project(&"gh/acme/search".parse::<ProjectSlug>().unwrap(), false).await.unwrap();
    let build = db.insert_build(project, &new_build()).await.unwrap();
    let other = db.insert_build(project, &new_build()).await.unwrap();
    list(
        &db,
        project,
        build.id,
        &["screens/Home Page.png", "screens/login_page.png", "reports/100%/index.html", "logs/build.log", "a/b/c.txt"],
    )
    .await;
    list(&db, project, other.id, &["screens/other page.png"]).await;
    // Paths common to many builds: a needle made of their trigrams is answered from the
    // build's own rows, a rare one from the trigram index; both give the same answers.
    let bulk: Vec<String> = (0..20).map(|i| format!("bulk/file-{i}.txt")).collect();
    list(&db, project, build.id, &bulk.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let more: Vec<String> = (0..60).map(|i| format!("bulk/file-{i}.txt")).collect();
    list(&db, project, other.id, &more.iter().map(String::as_str).collect::<Vec<_>>()).await;

    let found = |needle: &'static str| {
        let db = db.clone();
        async move {
            let hits = db.search_artifacts(build.id, needle, 100).await.unwrap();
            hits.into_iter().map(|a| a.pretty_path).collect::<Vec<_>>()
        }
    };
    assert_eq!(found("page").await, ["screens/Home Page.png", "screens/login_page.png"], "any case, this build only");
    assert_eq!(found("PAGE.PNG").await, ["screens/Home Page.png", "screens/login_page.png"]);
    assert_eq!(found("_page").await, ["screens/login_page.png"], "`_` is a character, not a wildcard");
    assert_eq!(found("100%").await, ["reports/100%/index.html"], "`%` is a character, not a wildcard");
    assert_eq!(found("log").await, ["logs/build.log", "screens/login_page.png"], "one row per artifact");
    assert_eq!(found("c.").await, ["a/b/c.txt"], "needles shorter than a trigram still match");
    assert!(found("zzz").await.is_empty());
    assert!(found("\"").await.is_empty(), "a quote is only a character");
    assert_eq!(db.search_artifacts(build.id, "page", 1).await.unwrap().len(), 1, "the limit holds");
    assert_eq!(found("BULK/FILE").await.len(), 20, "a needle common to many builds");
    let mut ones: Vec<String> = (0..20).map(|i| format!("bulk/file-{i}.txt")).filter(|p| p.contains("-1")).collect();
    ones.sort();
    assert_eq!(found("file-1").await, ones);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_server_sweeps_at_a_time() {
    let (_dir, db) = store().await;
    let first = db.try_lock_sweeper().await.unwrap();
    assert!(first.is_some());
    let second = db.try_lock_sweeper().await.unwrap();
    match db.kind() {
        // Another connection, as another server would hold it.
        StoreKind::Postgres => assert!(second.is_none(), "the sweeper lock is taken"),
        // One SQLite file belongs to one server: nothing to share.
        StoreKind::Sqlite => assert!(second.is_some()),
    }
    drop((first, second));
    // Released with its transaction, so another sweep can run.
    let mut again = None;
    for _ in 0..50 {
        again = db.try_lock_sweeper().await.unwrap();
        if again.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(again.is_some(), "the lock is released once its holder is gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_server_gets_the_first_servers_key() {
    let (_dir, db) = store().await;
    assert_eq!(db.shared_key("artifacts-origin", &[1; 32]).await.unwrap(), vec![1; 32]);
    assert_eq!(db.shared_key("artifacts-origin", &[2; 32]).await.unwrap(), vec![1; 32]);
    assert_eq!(db.shared_key("other", &[3; 32]).await.unwrap(), vec![3; 32], "keys are kept by name");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_runs_keep_their_order_and_the_same_test_across_builds() {
    use vitrine_store::{NewTestRun, TestResult};
    let (_dir, db) = store().await;
    let slug: ProjectSlug = "gh/acme/tests".parse().unwrap();
    let project = db.insert_project(&slug, false).await.unwrap();
    let run = |name: &str, result: TestResult| NewTestRun {
        suite: "checkout.spec.ts".into(),
        classname: "checkout".into(),
        name: name.into(),
        file: "tests/checkout.spec.ts".into(),
        result,
        run_time: Some(1.5),
        message: if result == TestResult::Failure { "expected 200".into() } else { String::new() },
        detail: String::new(),
        attachments: if result == TestResult::Failure { vec!["shot.png".into(), "trace.zip".into()] } else { vec![] },
    };
    let first = db.insert_build(project, &new_build()).await.unwrap().id;
    let second = db.insert_build(project, &new_build()).await.unwrap().id;
    let runs = [run("pays", TestResult::Failure), run("lists", TestResult::Success), run("later", TestResult::Skipped)];
    assert_eq!(db.insert_test_runs(project, first, 0, "$CIRCLE_ARTIFACTS/junit.xml", &runs).await.unwrap(), 3);
    // A second report of the same build comes after the first.
    let more = [run("refunds", TestResult::Error)];
    db.insert_test_runs(project, first, 1, "$CIRCLE_ARTIFACTS/more.xml", &more).await.unwrap();
    db.insert_test_runs(project, second, 0, "$CIRCLE_ARTIFACTS/junit.xml", &runs[..1]).await.unwrap();

    let stored = db.test_runs(first, 0, 100).await.unwrap();
    let names: Vec<&str> = stored.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["pays", "lists", "later", "refunds"]);
    assert_eq!(stored[0].result, TestResult::Failure);
    assert_eq!(stored[0].attachments, ["shot.png", "trace.zip"]);
    assert_eq!(stored[0].run_time, Some(1.5));
    assert_eq!((stored[3].node_index, stored[3].source.as_str()), (1, "$CIRCLE_ARTIFACTS/more.xml"));
    assert_eq!(db.test_run_count(first).await.unwrap(), 4);
    // Pages follow the order; the same test in another build is the same test.
    let page = db.test_runs(first, stored[1].seq, 2).await.unwrap();
    assert_eq!(page.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["later", "refunds"]);
    assert_eq!(db.test_runs(second, 0, 10).await.unwrap()[0].test_id, stored[0].test_id);

    // Purging a report takes its runs; purging (or expiring) a build takes the rest.
    db.purge(project, Some(first), Some("$CIRCLE_ARTIFACTS/more.xml")).await.unwrap();
    assert_eq!(db.test_run_count(first).await.unwrap(), 3);
    db.purge(project, Some(first), None).await.unwrap();
    assert_eq!(db.test_run_count(first).await.unwrap(), 0);
    assert_eq!(db.test_run_count(second).await.unwrap(), 1, "other builds keep theirs");
}
