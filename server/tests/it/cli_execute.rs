//! `vitrine execute` with the config of CircleCI's "Uploading Build Artifacts" page, verbatim.

use crate::common::*;

const CIRCLECI_EXAMPLE: &str = r#"version: 2.1

jobs:
  build:
    docker:
      - image: python:3.6.3-jessie
        auth:
          username: mydockerhub-user
          password: $DOCKERHUB_PASSWORD  # context / project UI env-var reference

    working_directory: /tmp
    steps:
      - run:
          name: Creating Dummy Artifacts
          command: |
            echo "my artifact file" > /tmp/artifact-1;
            mkdir /tmp/artifacts;
            echo "my artifact files in a dir" > /tmp/artifacts/artifact-2;

      - store_artifacts:
          path: /tmp/artifact-1
          destination: artifact-file

      - store_artifacts:
          path: /tmp/artifacts
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_circleci_documentation_example_works_verbatim() {
    // The example writes fixed paths under /tmp and its mkdir fails if they exist.
    let _ = std::fs::remove_dir_all("/tmp/artifacts");
    let _ = std::fs::remove_file("/tmp/artifact-1");
    let f = TestApp::with_projects().await;
    let repo = tempfile::tempdir().unwrap();
    std::fs::create_dir(repo.path().join(".circleci")).unwrap();
    std::fs::write(repo.path().join(".circleci/config.yml"), CIRCLECI_EXAMPLE).unwrap();

    let out = f
        .app
        .agent(repo.path(), &f.public_build_token, "gh/acme/public-site", "execute", &["--branch", "docs"], &[])
        .await;
    assert_ok(&out);
    assert!(stderr(&out).contains("docker executor is not started"), "{}", stderr(&out));

    let (_, list) = f.app.get_json("/api/v1.1/project/gh/acme/public-site/1/artifacts", None).await;
    let mut found: Vec<(String, String)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["pretty_path"].as_str().unwrap().to_owned(), a["url"].as_str().unwrap().to_owned()))
        .collect();
    found.sort();
    assert_eq!(
        found.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>(),
        ["artifact-file", "tmp/artifacts/artifact-2"]
    );
    let (_, bytes) = f.app.download(&found[0].1, None).await;
    assert_eq!(bytes, b"my artifact file\n");
    let (_, bytes) = f.app.download(&found[1].1, None).await;
    assert_eq!(bytes, b"my artifact files in a dir\n");
    let (_, build) = f.app.get_json("/api/v1.1/project/gh/acme/public-site/1", None).await;
    assert_eq!(build["status"], "success");
    assert_eq!(build["branch"], "docs");
    let _ = std::fs::remove_dir_all("/tmp/artifacts");
    let _ = std::fs::remove_file("/tmp/artifact-1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_step_fails_the_build_but_artifacts_are_still_stored() {
    let f = TestApp::with_projects().await;
    let repo = tempfile::tempdir().unwrap();
    let config = r#"
version: 2
jobs:
  build:
    environment:
      GREETING: hello
    steps:
      - checkout
      - run: mkdir -p out && echo "$GREETING" > out/greeting.txt
      - run:
          name: Tests
          command: |
            false | true
            echo "pipefail makes this line unreachable" > out/never.txt
      - run:
          name: Skipped after failure
          command: echo skipped > out/skipped.txt
      - run:
          name: Collect logs
          when: on_fail
          command: echo "failure log" > out/failure.log
      - store_artifacts:
          path: out
"#;
    std::fs::write(repo.path().join("config.yml"), config).unwrap();
    let out = f
        .app
        .agent(repo.path(), &f.public_build_token, "gh/acme/public-site", "execute", &["--config", "config.yml"], &[])
        .await;
    assert!(!out.status.success());
    let (_, list) = f.app.get_json("/api/v1.1/project/gh/acme/public-site/1/artifacts", None).await;
    let mut pretty: Vec<&str> = list.as_array().unwrap().iter().map(|a| a["pretty_path"].as_str().unwrap()).collect();
    pretty.sort_unstable();
    assert_eq!(pretty, ["out/failure.log", "out/greeting.txt"]);
    let (_, build) = f.app.get_json("/api/v1.1/project/gh/acme/public-site/1", None).await;
    assert_eq!(build["status"], "failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_job_is_named_with_the_ones_that_exist() {
    let f = TestApp::with_projects().await;
    let repo = tempfile::tempdir().unwrap();
    std::fs::write(repo.path().join("c.yml"), "version: 2.1\njobs:\n  test:\n    steps: [checkout]\n").unwrap();
    let out = f.app.agent(repo.path(), "x", "gh/acme/public-site", "execute", &["--config", "c.yml"], &[]).await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("no job `build`") && stderr(&out).contains("test"), "{}", stderr(&out));
}
