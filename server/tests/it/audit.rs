//! The audit log: private artifacts read (by whom, with which credential, from where) and
//! every admin change, queryable with `vitrine admin audit`, written off the request path,
//! kept as long as artifacts are.

use crate::common::*;

async fn audit(f: &Fixture, args: &[&str]) -> String {
    let mut all = vec!["audit"];
    all.extend_from_slice(args);
    String::from_utf8(f.app.admin(&all).await.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_reads_and_admin_changes_are_in_the_audit_log() {
    let f = TestApp::with_projects().await;
    let script = "echo secret > \"$CIRCLE_ARTIFACTS/s.txt\"";
    assert_ok(&f.app.run_build(&f.private_build_token, "gh/acme/secret", "main", script).await);
    assert_ok(&f.app.run_build(&f.public_build_token, "gh/acme/public-site", "main", script).await);
    let private = format!("{}/api/v1.1/project/gh/acme/secret/1/artifacts/0/$CIRCLE_ARTIFACTS/s.txt", f.app.url);
    let public = format!("{}/api/v1.1/project/gh/acme/public-site/1/artifacts/0/$CIRCLE_ARTIFACTS/s.txt", f.app.url);
    f.app.download(&private, Some(&f.member_token)).await;
    f.app.download(&public, Some(&f.member_token)).await;
    // Refused reads are not reads.
    assert_eq!(f.app.get(&private.replace(&f.app.url, ""), Some(&f.outsider_token)).await.status().as_u16(), 404);
    f.app.admin(&["member", "remove", "gh/acme/secret", "alice"]).await;
    f.app.running.vitrine.audit().flush().await;

    let log = audit(&f, &[]).await;
    let reads: Vec<&str> = log.lines().filter(|l| l.contains("artifact.read")).collect();
    assert_eq!(reads.len(), 1, "one private read, the public one is not logged:\n{log}");
    let token_id = last_line(&f.app.admin(&["token", "list", "alice"]).await);
    let token_id = token_id.split_whitespace().next().unwrap();
    let who = format!("alice (token {token_id})");
    for expected in [who.as_str(), "gh/acme/secret", "0/$CIRCLE_ARTIFACTS/s.txt", "127.0.0.1"] {
        assert!(reads[0].contains(expected), "{expected} in {}", reads[0]);
    }
    assert!(!log.contains(&f.member_token), "never a token itself");
    let change = log.lines().find(|l| l.contains("admin.member.remove")).expect("the admin change is logged");
    assert!(change.contains("admin (") && change.contains("gh/acme/secret") && change.contains("alice"), "{change}");
    assert!(log.lines().any(|l| l.contains("admin.project.add")), "{log}");

    // Filters: by project, and from a time on.
    let other = audit(&f, &["--project", "gh/acme/public-site"]).await;
    assert!(!other.contains("artifact.read") && other.contains("admin.project.add"), "{other}");
    let later = audit(&f, &["--since", "2999-01-01"]).await;
    assert_eq!(later.lines().count(), 1, "only the heading: {later}");
    let recent = audit(&f, &["--since", "1h", "--project", "gh/acme/secret"]).await;
    assert!(recent.contains("artifact.read"), "{recent}");
    let out = f
        .app
        .vitrine(
            f.app.data_dir(),
            &["admin", "--data-dir", f.app.data_dir().to_str().unwrap(), "audit", "--since", "soon"],
            &[],
        )
        .await;
    assert!(stderr(&out).contains("is not a time"), "{}", stderr(&out));

    // Kept as long as artifacts are (30 days here).
    let now = chrono::Utc::now().timestamp();
    f.app.running.vitrine.sweeper().sweep_at(now + 31 * 86400).await.unwrap();
    assert_eq!(audit(&f, &[]).await.lines().count(), 1, "the log was emptied after the retention");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_private_reads_is_counted_on_few_rows_and_all_kept() {
    let f = TestApp::with_projects().await;
    assert_ok(
        &f.app
            .run_build(&f.private_build_token, "gh/acme/secret", "main", "echo x > \"$CIRCLE_ARTIFACTS/x.txt\"")
            .await,
    );
    let route = "/api/v1.1/project/gh/acme/secret/1/artifacts/0/$CIRCLE_ARTIFACTS/x.txt";
    let reads = (0..600).map(|_| f.app.get(route, Some(&f.member_token)));
    for r in futures::future::join_all(reads).await {
        assert_eq!(r.status().as_u16(), 302);
    }
    f.app.running.vitrine.audit().flush().await;
    let log = audit(&f, &["--limit", "5000"]).await;
    let rows: Vec<&str> = log.lines().filter(|l| l.contains("artifact.read")).collect();
    // The same read repeated within the writer's window (a second) is one row with its count.
    let times = |row: &str| {
        row.strip_suffix(" times)").and_then(|r| r.rsplit_once(" (")).map_or(1, |(_, n)| n.parse::<usize>().unwrap())
    };
    assert_eq!(rows.iter().map(|r| times(r)).sum::<usize>(), 600, "{log}");
    assert!(rows.len() <= 60, "at most a row a second: {} rows\n{log}", rows.len());
}
