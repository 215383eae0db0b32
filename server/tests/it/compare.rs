//! Screenshots against the last green build: which changed (by SHA-256), and how many pixels,
//! with a picture of where; the baseline is the branch's last green build, else the default
//! branch's.

use std::path::Path;

use serde_json::Value;

use crate::common::*;

fn write_png(dir: &Path, name: &str, width: u32, height: u32, paint: impl Fn(u32, u32) -> [u8; 4]) {
    let image = image::RgbaImage::from_fn(width, height, |x, y| image::Rgba(paint(x, y)));
    image.save(dir.join(name)).unwrap();
}

async fn build_page(f: &Fixture, num: i64) -> Value {
    let (status, page) = f.app.server_fn("build", None, &build_page_args("public-site", num)).await;
    assert_eq!(status, 200, "{page}");
    page
}

async fn open(f: &Fixture, num: i64, name: &str) -> Value {
    let path = format!("$CIRCLE_ARTIFACTS/shots/{name}");
    let (status, file) = f.app.server_fn("file", None, &file_args("public-site", num, &path)).await;
    assert_eq!(status, 200, "{file}");
    file
}

fn changes(page: &Value) -> Vec<(String, Value)> {
    page["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["pretty_path"].as_str().unwrap().rsplit('/').next().unwrap().to_owned(), a["change"].clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn screenshots_compare_with_the_last_green_build_of_the_branch_or_the_default_branch() {
    let f = TestApp::with_projects().await;
    let shots = tempfile::tempdir().unwrap();
    let white = |_: u32, _: u32| [255, 255, 255, 255];
    write_png(shots.path(), "home.png", 40, 20, white);
    write_png(shots.path(), "cart.png", 40, 20, white);
    // The cart's button moved: a 4×3 box is black now.
    write_png(shots.path(), "cart-moved.png", 40, 20, |x, y| {
        if (10..14).contains(&x) && (5..8).contains(&y) { [0, 0, 0, 255] } else { [255, 255, 255, 255] }
    });
    write_png(shots.path(), "login.png", 40, 20, white);
    let dir = shots.path().display();
    let run = |branch: &'static str, script: String| {
        let f = &f;
        async move { assert_ok(&f.app.run_build(&f.public_build_token, "gh/acme/public-site", branch, &script).await) }
    };
    // 1: green on main. 2: a feature branch moves the cart's button and adds a login page.
    run(
        "main",
        format!(r#"mkdir "$CIRCLE_ARTIFACTS/shots"; cp {dir}/home.png {dir}/cart.png "$CIRCLE_ARTIFACTS/shots/""#),
    )
    .await;
    run(
        "feature",
        format!(
            r#"mkdir "$CIRCLE_ARTIFACTS/shots"; cp {dir}/home.png {dir}/login.png "$CIRCLE_ARTIFACTS/shots/"
            cp {dir}/cart-moved.png "$CIRCLE_ARTIFACTS/shots/cart.png""#
        ),
    )
    .await;

    // The feature branch has no green build before 2: main's last green is its baseline.
    let page = build_page(&f, 2).await;
    assert_eq!(page["baseline"], serde_json::json!({"build_num": 1, "branch": "main"}));
    assert_eq!(
        changes(&page),
        [
            ("cart.png".to_owned(), Value::from("changed")),
            ("home.png".into(), Value::Null),
            ("login.png".into(), Value::from("new"))
        ]
    );
    assert_eq!(build_page(&f, 1).await["baseline"], Value::Null, "nothing came before build 1");

    // Opened, a changed screenshot says how many pixels changed and draws where.
    let cart = open(&f, 2, "cart.png").await;
    let compared = &cart["compare"]["Compared"];
    assert_eq!(compared["changed_pixels"], 12, "{cart}");
    assert_eq!(compared["total_pixels"], 800);
    assert_eq!(compared["identical"], false);
    assert_eq!(
        compared["baseline_url"],
        "/api/v1.1/project/github/acme/public-site/1/artifacts/0/$CIRCLE_ARTIFACTS/shots/cart.png"
    );
    let diff_url = compared["diff_url"].as_str().unwrap();
    let r = f.app.get(diff_url, None).await;
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["content-type"], "image/png");
    assert_eq!(r.headers()["x-changed-pixels"], "12");
    let drawn = image::load_from_memory(&r.bytes().await.unwrap()).unwrap().to_rgba8();
    assert_eq!(drawn.dimensions(), (40, 20));
    assert_eq!(drawn.get_pixel(11, 6).0, [230, 30, 50, 255], "a changed pixel is red");
    assert_ne!(drawn.get_pixel(0, 0).0, [230, 30, 50, 255]);
    assert_eq!(open(&f, 2, "home.png").await["compare"]["Compared"]["identical"], true);
    assert_eq!(open(&f, 2, "login.png").await["compare"]["NotInBaseline"]["baseline"]["build_num"], 1);
    let r = f.app.get("/gh/acme/public-site/2/compare/0/$CIRCLE_ARTIFACTS/shots/login.png", None).await;
    assert_eq!(r.status().as_u16(), 404);
    assert!(r.text().await.unwrap().contains("has no image"));

    // 3 on the feature branch: its own branch's last green (2) is the baseline now.
    run(
        "feature",
        format!(r#"mkdir "$CIRCLE_ARTIFACTS/shots"; cp {dir}/cart-moved.png "$CIRCLE_ARTIFACTS/shots/cart.png""#),
    )
    .await;
    let page = build_page(&f, 3).await;
    assert_eq!(page["baseline"]["build_num"], 2);
    assert_eq!(changes(&page), [("cart.png".to_owned(), Value::Null)]);

    // A project whose default branch is another compares with that one's; with no green build
    // there, with nothing.
    let out = f.app.admin(&["project", "default-branch", "gh/acme/public-site", "develop"]).await;
    assert_ok(&out);
    run("other", format!(r#"mkdir "$CIRCLE_ARTIFACTS/shots"; cp {dir}/cart.png "$CIRCLE_ARTIFACTS/shots/""#)).await;
    assert_eq!(build_page(&f, 4).await["baseline"], Value::Null);
    assert_eq!(open(&f, 4, "cart.png").await["compare"], Value::from("NoBaseline"));
    assert_ok(&f.app.admin(&["project", "default-branch", "gh/acme/public-site", "default"]).await);
    assert_eq!(build_page(&f, 4).await["baseline"]["build_num"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_builds_pixel_differences_are_for_its_readers() {
    let f = TestApp::with_projects().await;
    let shots = tempfile::tempdir().unwrap();
    write_png(shots.path(), "a.png", 8, 8, |_, _| [0, 0, 0, 255]);
    write_png(shots.path(), "b.png", 8, 8, |x, _| if x < 4 { [0, 0, 0, 255] } else { [9, 200, 9, 255] });
    let dir = shots.path().display();
    for file in ["a.png", "b.png"] {
        let script = format!(r#"cp {dir}/{file} "$CIRCLE_ARTIFACTS/shot.png""#);
        assert_ok(&f.app.run_build(&f.private_build_token, "gh/acme/secret", "main", &script).await);
    }
    let route = "/gh/acme/secret/2/compare/0/$CIRCLE_ARTIFACTS/shot.png";
    assert_eq!(f.app.get(route, None).await.status().as_u16(), 404);
    assert_eq!(f.app.get(route, Some(&f.outsider_token)).await.status().as_u16(), 404);
    let r = f.app.get(route, Some(&f.member_token)).await;
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["x-changed-pixels"], "32");
    assert_eq!(r.headers()["cache-control"], "private, max-age=300");
}
