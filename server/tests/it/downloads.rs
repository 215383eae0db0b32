//! A folder (or a whole container) downloaded as one zip, streamed from S3: the bytes of each
//! artifact, under the folder's name, for those who may read the build.

use std::sync::Arc;

use rc_zip_tokio::{ReadZip, ReadZipWithSize};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::*;

/// The names and bytes in a zip.
async fn unzip(bytes: Vec<u8>) -> Vec<(String, Vec<u8>)> {
    let archive = bytes.read_zip().await.expect("a valid zip");
    let mut files = vec![];
    for entry in archive.entries() {
        files.push((entry.name.clone(), entry.bytes().await.expect("each entry reads, its CRC checked")));
    }
    files
}

fn zip_url(f: &Fixture, folder: Option<&str>) -> String {
    let query = folder.map(|f| format!("?folder={}", urlencode(f))).unwrap_or_default();
    format!("{}/gh/acme/secret/1/download/0{query}", f.app.url)
}

fn urlencode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_of_a_thousand_files_downloads_as_one_zip() {
    let f = TestApp::with_projects().await;
    let script = r#"
        cd "$CIRCLE_ARTIFACTS"
        mkdir -p reports/sub other
        for i in $(seq 1 500); do echo "report $i" > "reports/$i.txt"; echo "{\"n\": $i}" > "reports/sub/$i.json"; done
        echo outside > other/x.txt
        echo top > top.txt
    "#;
    assert_ok(&f.app.run_build(&f.private_build_token, "gh/acme/secret", "main", script).await);
    let cookie = f.app.sign_in("alice", "alice-password").await;
    let folder = "$CIRCLE_ARTIFACTS/reports/";

    let visitor = f.app.http.get(zip_url(&f, Some(folder))).send().await.unwrap();
    assert_eq!(visitor.status().as_u16(), 404, "a private build's zip is hidden from visitors");
    let outsider = f.app.http.get(zip_url(&f, Some(folder))).header("Circle-Token", &f.outsider_token).send().await;
    assert_eq!(outsider.unwrap().status().as_u16(), 404);

    let r = f.app.http.get(zip_url(&f, Some(folder))).header("Cookie", &cookie).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["content-type"], "application/zip");
    let disposition = r.headers()["content-disposition"].to_str().unwrap().to_owned();
    assert!(disposition.starts_with("attachment; filename=\"secret-1-0-reports.zip\""), "{disposition}");
    assert_eq!(r.headers()["cache-control"], "private, no-store");
    let files = unzip(r.bytes().await.unwrap().to_vec()).await;
    assert_eq!(files.len(), 1000, "every file of the folder, nothing else");
    for (name, bytes) in &files {
        let (dir, file) = name.rsplit_once('/').unwrap();
        let i = file.split('.').next().unwrap();
        let expected = match dir {
            "reports" => format!("report {i}\n"),
            "reports/sub" => format!("{{\"n\": {i}}}\n"),
            _ => panic!("{name} is not under the folder's own name"),
        };
        assert_eq!(String::from_utf8_lossy(bytes), expected, "{name}");
    }

    // A member's token works as on the API; the whole container holds everything. A zip goes
    // out as it is, never gzipped again for a client that would take gzip.
    let r = f.app.http.get(zip_url(&f, None)).header("Circle-Token", &f.member_token);
    let r = r.header("Accept-Encoding", "gzip, br").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers().get("content-encoding"), None);
    let files = unzip(r.bytes().await.unwrap().to_vec()).await;
    assert_eq!(files.len(), 1002);
    assert!(files.iter().any(|(n, b)| n == "$CIRCLE_ARTIFACTS/top.txt" && b == b"top\n"));

    // Wrong folders are refused in words.
    let r = f.app.http.get(zip_url(&f, Some("$CIRCLE_ARTIFACTS/reports"))).header("Cookie", &cookie).send().await;
    let r = r.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.text().await.unwrap().contains("a folder ends with /"));
    let r = f.app.http.get(zip_url(&f, Some("nothing/"))).header("Cookie", &cookie).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 404);

    f.app.running.vitrine.audit().flush().await;
    let log = String::from_utf8_lossy(&f.app.admin(&["audit"]).await.stdout).into_owned();
    assert!(log.contains("0/$CIRCLE_ARTIFACTS/reports/ (1000 artifacts as a zip)"), "the zip is a read: {log}");
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_of_one_gib_streams_without_being_held_in_memory() {
    const GIB: u64 = 1 << 30;
    let f = TestApp::with_projects().await;
    let script = format!(
        r#"mkdir -p "$CIRCLE_ARTIFACTS/big"
        head -c {GIB} /dev/urandom > "$CIRCLE_ARTIFACTS/big/blob.bin"
        echo small > "$CIRCLE_ARTIFACTS/big/small.txt"
        sha256sum "$CIRCLE_ARTIFACTS/big/blob.bin" | cut -d' ' -f1 > "$CIRCLE_ARTIFACTS/blob.sha256""#
    );
    assert_ok(&f.app.run_build(&f.public_build_token, "gh/acme/public-site", "main", &script).await);
    let listing = f.app.get_json("/api/v1.1/project/gh/acme/public-site/1/artifacts", None).await.1;
    let blob = listing.as_array().unwrap().iter().find(|a| a["path"].as_str().unwrap().ends_with("blob.bin")).unwrap();
    assert_eq!(blob["size"], GIB);

    // The zip goes to a file as it arrives, while the process's memory is watched: the server
    // (in this process) must not hold the archive, nor the 1 GiB artifact.
    let url = format!("{}/gh/acme/public-site/1/download/0?folder={}", f.app.url, urlencode("$CIRCLE_ARTIFACTS/big/"));
    let before = rss_kib();
    let mut peak = before;
    let mut r = f.app.http.get(url).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.zip");
    let mut out = tokio::fs::File::create(&path).await.unwrap();
    let mut received = 0u64;
    while let Some(chunk) = r.chunk().await.unwrap() {
        out.write_all(&chunk).await.unwrap();
        received += chunk.len() as u64;
        if received % (64 << 20) < chunk.len() as u64 {
            peak = peak.max(rss_kib());
        }
    }
    out.flush().await.unwrap();
    assert!(received > GIB, "{received} bytes");
    let grew_mib = (peak.saturating_sub(before)) / 1024;
    assert!(grew_mib < 256, "memory grew by {grew_mib} MiB while 1 GiB was zipped and sent");

    // The entry's bytes are the artifact's, checked by its SHA-256 (and the zip's CRC-32).
    let file = Arc::new(positioned_io::RandomAccessFile::open(&path).unwrap());
    let archive = file.read_zip_with_size(received).await.unwrap();
    let names: Vec<String> = archive.entries().map(|e| e.name.clone()).collect();
    assert_eq!(names, ["big/blob.bin", "big/small.txt"]);
    let entry = archive.entries().next().unwrap();
    let mut reader = entry.reader();
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = reader.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    let sha_url = format!("{}/gh/acme/public-site/1/artifacts/0/$CIRCLE_ARTIFACTS/blob.sha256", f.app.url);
    let expected = String::from_utf8(f.app.download(&sha_url, None).await.1).unwrap();
    assert_eq!(hex::encode(hasher.finalize()), expected.trim());
}
