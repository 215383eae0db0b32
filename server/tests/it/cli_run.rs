//! `vitrine run` and `vitrine store-artifacts`: what a build stores and under which paths.

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_stores_circle_artifacts_with_literal_pretty_paths() {
    let f = TestApp::with_projects().await;
    let app = &f.app;
    let out = app
        .run_build(
            &f.public_build_token,
            "gh/acme/public-site",
            "main",
            r#"test -d "$CIRCLE_ARTIFACTS" && test -z "$(ls -A "$CIRCLE_ARTIFACTS")"
               echo "hello from build $CIRCLE_BUILD_NUM" > "$CIRCLE_ARTIFACTS/hello.txt"
               mkdir -p "$CIRCLE_ARTIFACTS/screens" && printf 'png' > "$CIRCLE_ARTIFACTS/screens/home page.png""#,
        )
        .await;
    assert_ok(&out);
    assert!(stderr(&out).contains("/gh/acme/public-site/1"), "prints the build page URL: {}", stderr(&out));

    let (status, list) = app.get_json("/api/v1.1/project/gh/acme/public-site/1/artifacts", None).await;
    assert_eq!(status, 200);
    let items = list.as_array().unwrap();
    assert_eq!(items.len(), 2);
    let hello = items.iter().find(|a| a["pretty_path"] == "$CIRCLE_ARTIFACTS/hello.txt").expect("hello.txt listed");
    assert_eq!(hello["node_index"], 0);
    let path = hello["path"].as_str().unwrap();
    assert!(path.starts_with('/') && path.ends_with("/hello.txt"), "path is the absolute file path: {path}");
    let url = hello["url"].as_str().unwrap();
    assert_eq!(
        url,
        format!("{}/api/v1.1/project/github/acme/public-site/1/artifacts/0/$CIRCLE_ARTIFACTS/hello.txt", app.url)
    );

    let (ct, bytes) = app.download(url, None).await;
    assert_eq!(bytes, b"hello from build 1\n");
    assert!(ct.starts_with("text/plain"), "{ct}");
    // The same route with the dollar sign percent-encoded, as some clients send it.
    let (_, again) = app.download(&url.replace('$', "%24"), None).await;
    assert_eq!(again, bytes);

    let screen = items.iter().find(|a| a["pretty_path"] == "$CIRCLE_ARTIFACTS/screens/home page.png").unwrap();
    assert!(screen["url"].as_str().unwrap().ends_with("/screens/home%20page.png"));
    let (ct, _) = app.download(screen["url"].as_str().unwrap(), None).await;
    assert_eq!(ct, "image/png");

    let (_, build) = app.get_json("/api/v1.1/project/gh/acme/public-site/1", None).await;
    assert_eq!(build["status"], "success");
    assert_eq!(build["outcome"], "success");
    assert_eq!(build["branch"], "main");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_exits_with_the_command_code_and_fails_the_build() {
    let f = TestApp::with_projects().await;
    let out = f
        .app
        .run_build(
            &f.public_build_token,
            "gh/acme/public-site",
            "main",
            "echo partial > \"$CIRCLE_ARTIFACTS/log.txt\"; exit 3",
        )
        .await;
    assert_eq!(out.status.code(), Some(3));
    let (_, build) = f.app.get_json("/api/v1.1/project/gh/acme/public-site/1", None).await;
    assert_eq!(build["status"], "failed");
    // The artifacts of a failed build are the ones people most need.
    let (_, list) = f.app.get_json("/api/v1.1/project/gh/acme/public-site/1/artifacts", None).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_store_artifacts_follows_path_and_destination_rules() {
    let f = TestApp::with_projects().await;
    let script = r#"
        mkdir -p reports/coverage /tmp/vitrine-it-$$ && echo cov > reports/coverage/index.html && echo css > reports/style.css
        echo one > single.log
        echo abs > /tmp/vitrine-it-$$/abs.txt
        vitrine_bin="$VITRINE_BIN"
        "$vitrine_bin" store-artifacts --path reports
        "$vitrine_bin" store-artifacts --path single.log --destination logs/build.log
        "$vitrine_bin" store-artifacts --path reports/coverage --destination coverage
        "$vitrine_bin" store-artifacts --path /tmp/vitrine-it-$$/abs.txt
        echo two > single.log
        "$vitrine_bin" store-artifacts --path single.log --destination logs/build.log
        echo "$$" > pid
    "#;
    let cwd = tempfile::tempdir().unwrap();
    let out = f
        .app
        .agent(
            cwd.path(),
            &f.public_build_token,
            "gh/acme/public-site",
            "run",
            &["--", "bash", "-ec", script],
            &[("VITRINE_BIN", BIN)],
        )
        .await;
    assert_ok(&out);
    let pid = std::fs::read_to_string(cwd.path().join("pid")).unwrap().trim().to_owned();
    let (_, list) = f.app.get_json("/api/v1.1/project/gh/acme/public-site/1/artifacts", None).await;
    let mut pretty: Vec<String> =
        list.as_array().unwrap().iter().map(|a| a["pretty_path"].as_str().unwrap().to_owned()).collect();
    pretty.sort();
    let abs = format!("tmp/vitrine-it-{pid}/abs.txt");
    let mut expected =
        vec!["coverage/index.html", "logs/build.log", "reports/coverage/index.html", "reports/style.css", abs.as_str()];
    expected.sort_unstable();
    assert_eq!(pretty, expected);
    // v2-style artifacts: path equals pretty_path.
    for a in list.as_array().unwrap() {
        assert_eq!(a["path"], a["pretty_path"]);
    }
    // The same path stored twice in one node: the later wins.
    let log = list.as_array().unwrap().iter().find(|a| a["pretty_path"] == "logs/build.log").unwrap();
    let (_, bytes) = f.app.download(log["url"].as_str().unwrap(), None).await;
    assert_eq!(bytes, b"two\n");
    let _ = std::fs::remove_dir_all(format!("/tmp/vitrine-it-{pid}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_artifacts_refuses_bad_input_in_plain_words() {
    let f = TestApp::with_projects().await;
    let out = f.app.run_build(&f.public_build_token, "gh/acme/public-site", "main", "true").await;
    assert_ok(&out);
    let cwd = tempfile::tempdir().unwrap();
    std::fs::write(cwd.path().join("f.txt"), "x").unwrap();
    let base = [
        "--server",
        f.app.url.as_str(),
        "--token",
        f.public_build_token.as_str(),
        "--project",
        "gh/acme/public-site",
        "--build-num",
        "1",
    ];

    let mut args = vec!["store-artifacts", "--path", "f.txt", "--destination", "../../etc/passwd"];
    args.extend(base);
    let out = f.app.vitrine(cwd.path(), &args, &[]).await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("invalid destination"), "{}", stderr(&out));

    let mut args = vec!["store-artifacts", "--path", "missing-dir"];
    args.extend(base);
    let out = f.app.vitrine(cwd.path(), &args, &[]).await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("missing-dir: no such file or directory"), "{}", stderr(&out));

    let mut args = vec!["store-artifacts"];
    args.extend(base);
    let out = f.app.vitrine(cwd.path(), &args, &[]).await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--path"), "a missing --path is named: {}", stderr(&out));

    let mut args = vec!["store-artifacts", "--path", "f.txt", "--build-num", "99"];
    args.extend(&base[..6]);
    let out = f.app.vitrine(cwd.path(), &args, &[]).await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("Build 99 of github/acme/public-site does not exist"), "{}", stderr(&out));

    let mut args = vec!["store-artifacts", "--path", "f.txt", "--project", "gh/acme/nope"];
    args.extend(&base[..4]);
    args.extend(["--build-num", "1"]);
    let out = f.app.vitrine(cwd.path(), &args, &[]).await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("Project not found"), "{}", stderr(&out));

    // Nothing of the above was listed.
    let (_, list) = f.app.get_json("/api/v1.1/project/gh/acme/public-site/1/artifacts", None).await;
    assert_eq!(list.as_array().unwrap().len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_over_3_gib_are_refused_before_sending_and_the_rest_still_upload() {
    let f = TestApp::with_projects().await;
    let script = r#"
        truncate -s 3221225473 "$CIRCLE_ARTIFACTS/huge.bin"
        echo small > "$CIRCLE_ARTIFACTS/small.txt"
    "#;
    let out = f.app.run_build(&f.public_build_token, "gh/acme/public-site", "main", script).await;
    assert!(!out.status.success(), "the step reports failure");
    let err = stderr(&out);
    assert!(err.contains("huge.bin") && err.contains("3 GiB limit"), "names the file and the limit: {err}");
    let (_, list) = f.app.get_json("/api/v1.1/project/gh/acme/public-site/1/artifacts", None).await;
    let pretty: Vec<&str> = list.as_array().unwrap().iter().map(|a| a["pretty_path"].as_str().unwrap()).collect();
    assert_eq!(pretty, ["$CIRCLE_ARTIFACTS/small.txt"]);
    // No byte of the big file reached storage.
    let stored: u64 = walkdir::WalkDir::new(f.app.data_dir())
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| !e.file_name().to_string_lossy().starts_with("vitrine.db"))
        .filter_map(|e| e.metadata().ok())
        .filter(std::fs::Metadata::is_file)
        .map(|m| m.len())
        .sum();
    assert!(stored < 1_000_000, "storage holds {stored} bytes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_is_retried_then_reported() {
    let cwd = tempfile::tempdir().unwrap();
    // A port nobody listens on: bind, note, release.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}");
    let out = tokio::process::Command::new(BIN)
        .args(["run", "--server", &url, "--token", "t0k", "--project", "gh/a/b", "--", "true"])
        .current_dir(cwd.path())
        .env("VITRINE_RETRY_FOR", "2s")
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains(&format!("cannot reach the Vitrine server at {url}")), "{err}");
    assert!(err.contains("gave up after"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_comes_up_late_is_waited_for() {
    let f = TestApp::with_projects().await;
    // Proxy port that starts forwarding to the server only after a delay.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let target = f.app.running.addr;
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        loop {
            let (mut inbound, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let mut outbound = tokio::net::TcpStream::connect(target).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            });
        }
    });
    let cwd = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let out = f
        .app
        .vitrine(
            cwd.path(),
            &[
                "run",
                "--server",
                &url,
                "--token",
                &f.public_build_token,
                "--project",
                "gh/acme/public-site",
                "--",
                "true",
            ],
            &[("VITRINE_RETRY_FOR", "20s")],
        )
        .await;
    assert_ok(&out);
    assert!(stderr(&out).contains("retrying for up to 20 s"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_files_go_up_in_parts_and_come_back_whole() {
    let uploads = UploadSettings { part_size: Some(8 << 20), ..UploadSettings::default() };
    let f = TestApp::with_projects_and(uploads).await;
    // 21 MiB: parts of 8, 8 and 5 MiB, with content that differs along the file.
    let script = r#"
        for i in 1 2 3; do head -c 7340032 /dev/zero | tr '\0' "$i"; done > "$CIRCLE_ARTIFACTS/big.bin"
        sha256sum "$CIRCLE_ARTIFACTS/big.bin" | cut -d' ' -f1 > "$EXPECTED"
    "#;
    let expected = tempfile::NamedTempFile::new().unwrap();
    let cwd = tempfile::tempdir().unwrap();
    let out = f
        .app
        .agent(
            cwd.path(),
            &f.public_build_token,
            "gh/acme/public-site",
            "run",
            &["--", "bash", "-ec", script],
            &[("EXPECTED", expected.path().to_str().unwrap())],
        )
        .await;
    assert_ok(&out);
    let (_, list) = f.app.get_json("/api/v1.1/project/gh/acme/public-site/1/artifacts", None).await;
    let url = list[0]["url"].as_str().unwrap();
    let (ct, bytes) = f.app.download(url, None).await;
    assert_eq!(ct, "application/octet-stream");
    assert_eq!(bytes.len(), 21 * 1024 * 1024);
    use sha2::Digest;
    let got = hex::encode(sha2::Sha256::digest(&bytes));
    assert_eq!(got, std::fs::read_to_string(expected.path()).unwrap().trim());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misleading_names_and_links_out_of_the_directory_are_not_stored() {
    let f = TestApp::with_projects().await;
    let script = r#"
        echo ok > "$CIRCLE_ARTIFACTS/ok.txt"
        echo pdf > "$CIRCLE_ARTIFACTS/"$'invoice\u202efdp.exe'
        echo secret > "$HOME_SECRET"
        ln -s "$HOME_SECRET" "$CIRCLE_ARTIFACTS/leak.txt"
        ln -s ok.txt "$CIRCLE_ARTIFACTS/latest.txt"
    "#;
    let secret = tempfile::tempdir().unwrap();
    let secret_file = secret.path().join("id_rsa");
    let cwd = tempfile::tempdir().unwrap();
    let args = ["--", "bash", "-ec", script];
    let env = [("HOME_SECRET", secret_file.to_str().unwrap())];
    let out = f.app.agent(cwd.path(), &f.public_build_token, "gh/acme/public-site", "run", &args, &env).await;
    assert!(!out.status.success(), "a file that was not stored fails the step");
    let err = stderr(&out);
    assert!(err.contains("invisible or direction-changing") && err.contains("\\u{202e}"), "{err}");
    assert!(err.contains("leak.txt: not stored: a symbolic link to") && err.contains("outside"), "{err}");
    let (_, list) = f.app.get_json("/api/v1.1/project/gh/acme/public-site/1/artifacts", None).await;
    let mut names: Vec<&str> = list.as_array().unwrap().iter().map(|a| a["pretty_path"].as_str().unwrap()).collect();
    names.sort_unstable();
    assert_eq!(names, ["$CIRCLE_ARTIFACTS/latest.txt", "$CIRCLE_ARTIFACTS/ok.txt"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_files_are_read_once_and_a_second_build_sends_nothing_again() {
    let f = TestApp::with_projects().await;
    // 17 MiB, over the size from which files are hashed while they are sent.
    let script = r#"
        for i in 1 2 3 4 5 6 7 8 9 a b c d e f g h; do head -c 1048576 /dev/zero | tr '\0' "$i"; done > "$CIRCLE_ARTIFACTS/big.bin"
        echo small > "$CIRCLE_ARTIFACTS/small.txt"
        sha256sum "$CIRCLE_ARTIFACTS/big.bin" | cut -d' ' -f1 > "$EXPECTED"
    "#;
    let expected = tempfile::NamedTempFile::new().unwrap();
    let cwd = tempfile::tempdir().unwrap();
    let env = [("EXPECTED", expected.path().to_str().unwrap()), ("VITRINE_LOG", "vitrine_agent=debug")];
    let args = ["--", "bash", "-ec", script];
    let run = || f.app.agent(cwd.path(), &f.public_build_token, "gh/acme/public-site", "run", &args, &env);
    let first = run().await;
    assert_ok(&first);
    assert!(stderr(&first).contains("hashed while sent"), "{}", stderr(&first));
    assert!(!stderr(&first).contains("SHA-256 first"), "{}", stderr(&first));
    let second = run().await;
    assert_ok(&second);
    assert!(
        stderr(&second).contains("the server asked for its SHA-256 first"),
        "the project keeps a file of this size: {}",
        stderr(&second)
    );
    assert!(stderr(&second).contains("(2 already kept, not sent again)"), "{}", stderr(&second));

    let want = std::fs::read_to_string(expected.path()).unwrap().trim().to_owned();
    for build in [1, 2] {
        let (_, list) = f.app.get_json(&format!("/api/v1.1/project/gh/acme/public-site/{build}/artifacts"), None).await;
        let big =
            list.as_array().unwrap().iter().find(|a| a["pretty_path"].as_str().unwrap().ends_with("/big.bin")).unwrap();
        assert_eq!((big["size"].as_u64(), big["sha256"].as_str()), (Some(17 << 20), Some(want.as_str())));
        let (_, bytes) = f.app.download(big["url"].as_str().unwrap(), None).await;
        use sha2::Digest;
        assert_eq!(hex::encode(sha2::Sha256::digest(&bytes)), want);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_build_gets_a_token_that_only_adds_to_it_while_it_runs() {
    let f = TestApp::with_projects().await;
    let app = &f.app;
    let kept = tempfile::NamedTempFile::new().unwrap();
    // Inside the build, its own token stores artifacts through a nested store step.
    let script = r#"
        printf '%s' "$VITRINE_TOKEN" > "$KEPT"
        echo nested > nested.txt
        vitrine store-artifacts --path nested.txt
    "#;
    let cwd = tempfile::tempdir().unwrap();
    let path = format!("{}:{}", std::path::Path::new(BIN).parent().unwrap().display(), std::env::var("PATH").unwrap());
    let out = app
        .agent(
            cwd.path(),
            &f.private_build_token,
            "gh/acme/secret",
            "run",
            &["--", "bash", "-ec", script],
            &[("KEPT", kept.path().to_str().unwrap()), ("PATH", &path)],
        )
        .await;
    assert_ok(&out);
    let token = std::fs::read_to_string(kept.path()).unwrap();
    assert!(!token.is_empty() && token != f.private_build_token, "the build's processes get their own token");
    let (_, list) = app.get_json("/api/v1.1/project/gh/acme/secret/1/artifacts", Some(&f.member_token)).await;
    assert_eq!(list[0]["pretty_path"], "nested.txt", "{list}");

    // That token reads nothing, starts nothing, and adds nothing once the build finished.
    let (status, _) = app.get_json("/api/v1.1/project/gh/acme/secret/1/artifacts", Some(&token)).await;
    assert_eq!(status, 404);
    let agent = |path: &str, body: serde_json::Value| {
        app.http
            .post(format!("{}/api/agent/projects/gh/acme/secret/builds{path}", app.url))
            .header("Circle-Token", &token)
            .header(vitrine_wire::agent::PROTOCOL_HEADER, vitrine_wire::agent::PROTOCOL_VERSION.to_string())
            .json(&body)
            .send()
    };
    let r = agent("", serde_json::json!({"branch": "main"})).await.unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let files = serde_json::json!({"node_index": 0, "files": [
        {"path": "x", "pretty_path": "x", "size": 1, "sha256": "0".repeat(64)}]});
    let r = agent("/1/uploads", files).await.unwrap();
    assert_eq!(r.status().as_u16(), 409, "the build is closed");
}
