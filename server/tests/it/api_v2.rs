use std::collections::HashSet;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_job_artifacts_list_items_in_pages() {
    let f = TestApp::with_projects().await;
    // 1,001 files: more than one upload batch and more than one page.
    let script = "cd \"$CIRCLE_ARTIFACTS\" && for i in $(seq 1000 2000); do echo $i > f$i.txt; done";
    assert_ok(&f.app.run_build(&f.public_build_token, "gh/acme/public-site", "main", script).await);
    let base = "/api/v2/project/gh/acme/public-site/1/artifacts";
    let (status, page) = f.app.get_json(base, None).await;
    assert_eq!(status, 200);
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 1000);
    assert_eq!(items[0]["path"], "$CIRCLE_ARTIFACTS/f1000.txt");
    assert_eq!(items[0]["node_index"], 0);
    let token = page["next_page_token"].as_str().expect("a second page").to_owned();
    let (_, second) = f.app.get_json(&format!("{base}?page-token={token}"), None).await;
    let rest = second["items"].as_array().unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(second["next_page_token"], serde_json::Value::Null);
    let all: HashSet<&str> = items.iter().chain(rest).map(|i| i["path"].as_str().unwrap()).collect();
    assert_eq!(all.len(), 1001);
    let (_, bytes) = f.app.download(rest[0]["url"].as_str().unwrap(), None).await;
    assert_eq!(bytes, b"2000\n");

    let (status, _) = f.app.get_json(&format!("{base}?page-token=garbage!"), None).await;
    assert_eq!(status, 400);
    let (status, body) = f.app.get_json("/api/v2/project/gh/acme/public-site/2/artifacts", None).await;
    assert_eq!((status, body["message"].as_str()), (404, Some("Build not found")));
    let (status, _) = f.app.get_json("/api/v2/project/gh/acme/secret/1/artifacts", None).await;
    assert_eq!(status, 404);
}
