//! `vitrine artifacts download`: a build's artifacts fetched on another machine, checked.

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn artifacts_download_fetches_matching_files_with_their_paths() {
    let f = TestApp::with_projects().await;
    let script = r#"
        mkdir -p "$CIRCLE_ARTIFACTS/reports/unit"
        echo "unit ok" > "$CIRCLE_ARTIFACTS/reports/unit/result.txt"
        echo "<h1>r</h1>" > "$CIRCLE_ARTIFACTS/reports/index.html"
        head -c 100000 /dev/urandom > "$CIRCLE_ARTIFACTS/bundle.bin"
    "#;
    assert_ok(&f.app.run_build(&f.private_build_token, "gh/acme/secret", "release/1.x", script).await);
    let dest = tempfile::tempdir().unwrap();
    let cwd = tempfile::tempdir().unwrap();
    let download = |glob: &'static str, extra: Vec<&'static str>, token: String| {
        let dest = dest.path().to_str().unwrap().to_owned();
        let app = &f.app;
        let cwd = cwd.path().to_path_buf();
        async move {
            let mut args = vec!["artifacts", "download", "--server", app.url.as_str(), "--project", "gh/acme/secret"];
            args.extend(extra);
            args.extend([glob, dest.as_str()]);
            app.vitrine(&cwd, &args, &[("VITRINE_TOKEN", token.as_str())]).await
        }
    };

    // `latest` on a branch with a slash; `**` crosses folders, paths are kept below DEST.
    let out = download("**/reports/**", vec!["--branch", "release/1.x"], f.member_token.clone()).await;
    assert_ok(&out);
    let root = dest.path().join("$CIRCLE_ARTIFACTS");
    assert_eq!(std::fs::read_to_string(root.join("reports/unit/result.txt")).unwrap(), "unit ok\n");
    assert_eq!(std::fs::read_to_string(root.join("reports/index.html")).unwrap(), "<h1>r</h1>\n");
    assert!(!root.join("bundle.bin").exists(), "only what matches");
    assert!(stderr(&out).contains("downloaded 2 file(s)"), "{}", stderr(&out));

    // By number, with the build token of the project; the bytes are the stored ones.
    let out = download("*/bundle.bin", vec!["--build", "1"], f.private_build_token.clone()).await;
    assert_ok(&out);
    let (_, list) = f.app.get_json("/api/v1.1/project/gh/acme/secret/1/artifacts", Some(&f.member_token)).await;
    let bundle = list.as_array().unwrap().iter().find(|a| a["pretty_path"] == "$CIRCLE_ARTIFACTS/bundle.bin").unwrap();
    let (_, stored) = f.app.download(bundle["url"].as_str().unwrap(), Some(&f.member_token)).await;
    assert_eq!(std::fs::read(root.join("bundle.bin")).unwrap(), stored);

    // Nothing matching, and no access: clear failures.
    let out = download("*.nothing", vec![], f.member_token.clone()).await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("no artifact matches"), "{}", stderr(&out));
    let out = download("**", vec![], f.outsider_token.clone()).await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("Project not found"), "{}", stderr(&out));
}
