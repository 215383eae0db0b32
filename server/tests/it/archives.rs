//! Archives open as folders: a zip, a tar and a tar.gz artifact are browsed like folders of
//! the build, and their files open (previews, pages with their relative links) read from the
//! archive itself.

use serde_json::Value;

use crate::common::*;

const MAKE_ARCHIVES: &str = r#"
mkdir -p "$CIRCLE_ARTIFACTS/reports"
cd "$CIRCLE_ARTIFACTS/reports"
python3 - <<'PY'
import io, tarfile, zipfile
files = {
    "index.html": '<link rel="stylesheet" href="css/site.css"><a href="pages/a.html">a</a>',
    "css/site.css": "h1 { color: rgb(1, 2, 3) }",
    "pages/a.html": "<h1>page a</h1>",
    "log.txt": "\x1b[31mred\x1b[0m\n",
}
with zipfile.ZipFile("site.zip", "w", zipfile.ZIP_DEFLATED) as z:
    for name, text in files.items():
        z.writestr(name, text)
    for i in range(300):
        z.writestr(f"many/{i:03}.txt", f"file {i}\n")
    z.writestr("../escape.txt", "hostile")
    z.writestr("empty-dir/", "")
for mode, name in (("w", "site.tar"), ("w:gz", "site.tar.gz")):
    with tarfile.open(name, mode) as t:
        for path, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo("./" + path)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
PY
"#;

async fn browse(f: &Fixture, cookie: &str, folder: &str, after: &str) -> (u16, Value) {
    f.app.server_fn("browse", Some(cookie), &browse_args("secret", 0, folder, "", after)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zip_tar_and_tar_gz_artifacts_open_as_folders() {
    let f = TestApp::with_projects().await;
    assert_ok(&f.app.run_build(&f.private_build_token, "gh/acme/secret", "main", MAKE_ARCHIVES).await);
    let cookie = f.app.sign_in("alice", "alice-password").await;

    let (_, reports) = browse(&f, &cookie, "$CIRCLE_ARTIFACTS/reports/", "").await;
    let archives: Vec<&Value> = reports["entries"].as_array().unwrap().iter().map(|e| &e["File"]).collect();
    assert_eq!(archives.len(), 3);
    assert!(archives.iter().all(|a| a["opens_as_folder"] == true), "{reports}");

    // A zip: its folders with what they hold, its files; a name that climbs out of the archive
    // and directory entries are left out.
    let (status, zip) = browse(&f, &cookie, "$CIRCLE_ARTIFACTS/reports/site.zip/", "").await;
    assert_eq!(status, 200, "{zip}");
    assert_eq!(names(&zip), ["css/ 1", "index.html", "log.txt", "many/ 300", "pages/ 1"]);
    // 300 files in pages of 200, each once, in order.
    let (_, first) = browse(&f, &cookie, "$CIRCLE_ARTIFACTS/reports/site.zip/many/", "").await;
    assert_eq!(names(&first).len(), 200);
    let next = first["next"].as_str().expect("a second page").to_owned();
    let (_, second) = browse(&f, &cookie, "$CIRCLE_ARTIFACTS/reports/site.zip/many/", &next).await;
    let all: Vec<String> = names(&first).into_iter().chain(names(&second)).collect();
    let expected: Vec<String> = (0..300).map(|i| format!("{i:03}.txt")).collect();
    assert_eq!(all, expected);
    assert!(second["next"].is_null());
    // A tar and a tar.gz (`./` names) list the same files.
    for archive in ["site.tar", "site.tar.gz"] {
        let (status, tar) = browse(&f, &cookie, &format!("$CIRCLE_ARTIFACTS/reports/{archive}/"), "").await;
        assert_eq!(status, 200, "{tar}");
        assert_eq!(names(&tar), ["css/ 1", "index.html", "log.txt", "pages/ 1"], "{archive}");
    }
    // A folder that holds one folder only opens that one at once, in an archive too.
    let (_, css) = browse(&f, &cookie, "$CIRCLE_ARTIFACTS/reports/site.tar.gz/css/", "").await;
    assert_eq!(css["entries"][0]["File"]["size"], 26);

    // Files in an archive open with a preview, like any artifact.
    for archive in ["site.zip", "site.tar", "site.tar.gz"] {
        let path = format!("$CIRCLE_ARTIFACTS/reports/{archive}/log.txt");
        let (_, file) = f.app.server_fn("file", Some(&cookie), &file_args("secret", 1, &path)).await;
        let runs = &file["preview"]["Text"]["runs"];
        assert_eq!(runs[0], serde_json::json!({"text": "red", "class": "f1"}), "{archive}: {file}");
    }

    // A page in an archive opens on the artifacts origin with its relative links working,
    // read from the archive; the link opens that archive only.
    for archive in ["site.zip", "site.tar", "site.tar.gz"] {
        let route =
            format!("/api/v1.1/project/gh/acme/secret/1/artifacts/0/$CIRCLE_ARTIFACTS/reports/{archive}/index.html");
        let r = f
            .app
            .http
            .get(format!("{}{route}", f.app.url))
            .header("Circle-Token", &f.member_token)
            .header("Sec-Fetch-Mode", "navigate")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 302, "{archive}");
        let page = r.headers()["location"].to_str().unwrap().to_owned();
        assert!(page.starts_with(&f.app.running.artifacts_url), "{page}");
        let html = reqwest::get(&page).await.unwrap();
        assert_eq!(html.headers()["content-type"], "text/html; charset=utf-8");
        assert!(html.headers()["content-security-policy"].to_str().unwrap().starts_with("sandbox"));
        assert!(html.text().await.unwrap().contains("pages/a.html"), "{archive}");
        let sibling = |rel: &str| page.replace("index.html", rel);
        let css = reqwest::get(sibling("css/site.css")).await.unwrap();
        assert_eq!(css.status().as_u16(), 200, "{archive}");
        assert_eq!(css.text().await.unwrap(), "h1 { color: rgb(1, 2, 3) }");
        assert_eq!(reqwest::get(sibling("pages/a.html")).await.unwrap().text().await.unwrap(), "<h1>page a</h1>");
        let outside = page.replace(&format!("reports/{archive}/index.html"), "reports/site.zip/log.txt");
        if archive != "site.zip" {
            assert_eq!(reqwest::get(outside).await.unwrap().status().as_u16(), 404, "{archive}: outside its archive");
        }
    }
    // Scripts get the file's bytes through the same route.
    let route = "/api/v1.1/project/gh/acme/secret/1/artifacts/0/$CIRCLE_ARTIFACTS/reports/site.zip/many/042.txt";
    let (_, bytes) = f.app.download(&format!("{}{route}", f.app.url), Some(&f.member_token)).await;
    assert_eq!(bytes, b"file 42\n");

    // Visitors see nothing of a private build's archive; a missing file is a 404 in words.
    assert_eq!(f.app.get(route, None).await.status().as_u16(), 404);
    let missing = route.replace("042.txt", "999.txt");
    let r = f.app.get(&missing, Some(&f.member_token)).await;
    assert_eq!(r.status().as_u16(), 404);
    assert!(r.text().await.unwrap().contains("not found"));
}
