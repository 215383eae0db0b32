//! The embedded store through its HTTP front, as clients see it: aws-sdk-s3, presigned URLs sent
//! with reqwest, and raw sockets for bodies that break their own framing.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::presigning::{PresignedRequest, PresigningConfig};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, ChecksumMode, ChecksumType, CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier,
};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::BUCKET;
use crate::serve::start_embedded_s3 as start;
use crate::storage::Storage;
use vitrine_s3::EmbeddedS3;

struct Server {
    dir: tempfile::TempDir,
    s3: EmbeddedS3,
    client: Client,
}

async fn server_in(dir: tempfile::TempDir) -> Server {
    let (s3, _) =
        start(dir.path(), "127.0.0.1:0".parse().unwrap(), tokio::sync::watch::channel(false).1).await.unwrap();
    let storage = Storage::connect(&super::settings(&s3.credentials)).await.unwrap();
    storage.ensure_bucket().await.unwrap();
    Server { dir, s3, client: storage.client.clone() }
}

async fn server() -> Server {
    server_in(tempfile::tempdir().unwrap()).await
}

fn sha256_b64(data: &[u8]) -> String {
    B64.encode(Sha256::digest(data))
}

fn status<E>(e: &SdkError<E, HttpResponse>) -> u16 {
    e.raw_response().map_or(0, |r| r.status().as_u16())
}

fn code<E: ProvideErrorMetadata>(e: &SdkError<E, HttpResponse>) -> String {
    e.as_service_error().and_then(|s| s.code()).unwrap_or_default().to_owned()
}

fn presign_config() -> PresigningConfig {
    PresigningConfig::expires_in(Duration::from_secs(300)).unwrap()
}

impl Server {
    async fn put(&self, key: &str, data: &[u8]) {
        self.client.put_object().bucket(BUCKET).key(key).body(ByteStream::from(data.to_vec())).send().await.unwrap();
    }

    async fn get(&self, key: &str) -> Option<Vec<u8>> {
        match self.client.get_object().bucket(BUCKET).key(key).send().await {
            Ok(out) => Some(out.body.collect().await.unwrap().into_bytes().to_vec()),
            Err(e) if status(&e) == 404 => None,
            Err(e) => panic!("GET {key}: {e:?}"),
        }
    }

    fn store_tmp_is_empty(&self) -> bool {
        std::fs::read_dir(self.dir.path().join("store/tmp")).unwrap().next().is_none()
    }

    /// An upload URL as the server makes them: its size, SHA-256 and `If-None-Match: *` signed.
    async fn presigned_put(&self, key: &str, data: &[u8]) -> PresignedRequest {
        self.client
            .put_object()
            .bucket(BUCKET)
            .key(key)
            .content_length(data.len() as i64)
            .checksum_sha256(sha256_b64(data))
            .if_none_match("*")
            .presigned(presign_config())
            .await
            .unwrap()
    }

    /// Sends a presigned request with exactly its signed headers.
    async fn send(&self, req: &PresignedRequest, body: Vec<u8>) -> reqwest::Response {
        let mut builder = reqwest::Client::new().request(req.method().parse().unwrap(), req.uri());
        for (name, value) in req.headers() {
            builder = builder.header(name, value);
        }
        builder.body(body).send().await.unwrap()
    }
}

#[tokio::test]
async fn put_with_a_wrong_checksum_is_refused_and_changes_nothing() {
    let s = server().await;
    s.put("obj", b"first").await;

    let err = s
        .client
        .put_object()
        .bucket(BUCKET)
        .key("obj")
        .body(ByteStream::from_static(b"second"))
        .checksum_sha256(sha256_b64(b"other"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "BadDigest", "{err:?}");
    assert_eq!(s.get("obj").await.as_deref(), Some(&b"first"[..]));

    let err = s
        .client
        .put_object()
        .bucket(BUCKET)
        .key("new")
        .body(ByteStream::from_static(b"bytes"))
        .checksum_sha256(sha256_b64(b"other"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "BadDigest");
    assert_eq!(s.get("new").await, None);

    // The right checksum is accepted and stored; HEAD reports the SHA-256 whatever was sent.
    let out = s
        .client
        .put_object()
        .bucket(BUCKET)
        .key("new")
        .body(ByteStream::from_static(b"bytes"))
        .checksum_sha256(sha256_b64(b"bytes"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.checksum_sha256(), Some(sha256_b64(b"bytes").as_str()));
    let head = s.client.head_object().bucket(BUCKET).key("obj").send().await.unwrap();
    assert_eq!(head.checksum_sha256(), Some(sha256_b64(b"first").as_str()));
    assert_eq!(head.content_length(), Some(5));
    assert!(s.store_tmp_is_empty());
}

#[tokio::test]
async fn a_body_that_differs_from_the_signed_length_is_refused() {
    let s = server().await;
    let data = b"0123456789".to_vec();
    let req =
        s.client.put_object().bucket(BUCKET).key("len").content_length(10).presigned(presign_config()).await.unwrap();

    // Longer: the request's Content-Length (set by reqwest from the body) is not the signed one.
    let mut longer = reqwest::Client::new().put(req.uri()).body(b"0123456789A".to_vec());
    for (name, value) in req.headers().filter(|(name, _)| *name != "content-length") {
        longer = longer.header(name, value);
    }
    let resp = longer.send().await.unwrap();
    assert_eq!(resp.status(), 403, "{}", resp.text().await.unwrap());
    assert_eq!(s.get("len").await, None);

    // Shorter: the signed Content-Length, then the connection ends early.
    let url = reqwest::Url::parse(req.uri()).unwrap();
    let mut head = format!(
        "PUT {}?{} HTTP/1.1\r\nhost: {}:{}\r\n",
        url.path(),
        url.query().unwrap(),
        url.host_str().unwrap(),
        url.port().unwrap()
    );
    for (name, value) in req.headers() {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut socket = tokio::net::TcpStream::connect(s.s3.addr).await.unwrap();
    socket.write_all(head.as_bytes()).await.unwrap();
    socket.write_all(&data[..5]).await.unwrap();
    socket.shutdown().await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), socket.read_to_end(&mut answer)).await.unwrap();
    assert!(!String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"), "{}", String::from_utf8_lossy(&answer));
    assert_eq!(s.get("len").await, None);
    assert!(s.store_tmp_is_empty());

    // Exactly the signed length works.
    let resp = s.send(&req, data.clone()).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(s.get("len").await, Some(data));
}

#[tokio::test]
async fn if_none_match_refuses_to_replace() {
    let s = server().await;
    let put = |body: &'static [u8]| {
        s.client.put_object().bucket(BUCKET).key("once").if_none_match("*").body(ByteStream::from_static(body)).send()
    };
    put(b"first").await.unwrap();
    let err = put(b"second").await.unwrap_err();
    assert_eq!(status(&err), 412, "{err:?}");
    assert_eq!(s.get("once").await.as_deref(), Some(&b"first"[..]));

    // Without the condition a PUT replaces; a DELETE removes.
    s.put("once", b"third").await;
    assert_eq!(s.get("once").await.as_deref(), Some(&b"third"[..]));
    s.client.delete_object().bucket(BUCKET).key("once").send().await.unwrap();
    assert_eq!(s.get("once").await, None);
}

#[tokio::test]
async fn concurrent_create_only_puts_have_exactly_one_winner() {
    let s = server().await;
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let client = s.client.clone();
            tokio::spawn(async move {
                let body = format!("writer {i} ").repeat(1000).into_bytes();
                let result = client
                    .put_object()
                    .bucket(BUCKET)
                    .key("race")
                    .if_none_match("*")
                    .body(ByteStream::from(body.clone()))
                    .send()
                    .await;
                (body, result.map_err(|e| status(&e)))
            })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            (body, Ok(_)) => winners.push(body),
            (_, Err(status)) => assert_eq!(status, 412),
        }
    }
    assert_eq!(winners.len(), 1);
    assert_eq!(s.get("race").await, winners.pop());
    assert!(s.store_tmp_is_empty());
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8 ^ seed).collect()
}

#[tokio::test]
async fn multipart_checks_part_checksums_and_reports_the_whole_sha256() {
    let s = server().await;
    let c = &s.client;
    let (part1, part2) = (pattern(5 << 20, 1), pattern(1000, 2));
    let upload = c
        .create_multipart_upload()
        .bucket(BUCKET)
        .key("mp")
        .content_type("text/plain")
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .send()
        .await
        .unwrap();
    let id = upload.upload_id().unwrap();
    let upload_part = |n: i32, body: &[u8], checksum: String| {
        c.upload_part()
            .bucket(BUCKET)
            .key("mp")
            .upload_id(id)
            .part_number(n)
            .checksum_sha256(checksum)
            .body(ByteStream::from(body.to_vec()))
            .send()
    };
    let first = upload_part(1, &part1, sha256_b64(&part1)).await.unwrap();
    let err = upload_part(2, &part2, sha256_b64(b"not the part")).await.unwrap_err();
    assert_eq!(code(&err), "BadDigest");
    let parts = c.list_parts().bucket(BUCKET).key("mp").upload_id(id).send().await.unwrap();
    assert_eq!(parts.parts().len(), 1);
    let second = upload_part(2, &part2, sha256_b64(&part2)).await.unwrap();

    let completed = |n: i32, out: &aws_sdk_s3::operation::upload_part::UploadPartOutput, checksum: String| {
        CompletedPart::builder().part_number(n).e_tag(out.e_tag().unwrap()).checksum_sha256(checksum).build()
    };
    // A part checksum that is not the part's is refused.
    let wrong = CompletedMultipartUpload::builder()
        .parts(completed(1, &first, sha256_b64(&part1)))
        .parts(completed(2, &second, sha256_b64(&part1)))
        .build();
    let err = c.complete_multipart_upload().bucket(BUCKET).key("mp").upload_id(id).multipart_upload(wrong).send().await;
    assert_eq!(code(&err.unwrap_err()), "InvalidPart");

    let list = CompletedMultipartUpload::builder()
        .parts(completed(1, &first, sha256_b64(&part1)))
        .parts(completed(2, &second, sha256_b64(&part2)))
        .build();
    let done = c
        .complete_multipart_upload()
        .bucket(BUCKET)
        .key("mp")
        .upload_id(id)
        .multipart_upload(list)
        .send()
        .await
        .unwrap();
    assert!(done.e_tag().unwrap().ends_with("-2\""), "{:?}", done.e_tag());

    let whole = [part1.as_slice(), part2.as_slice()].concat();
    let head = c.head_object().bucket(BUCKET).key("mp").checksum_mode(ChecksumMode::Enabled).send().await.unwrap();
    assert_eq!(head.checksum_sha256(), Some(sha256_b64(&whole).as_str()));
    assert_eq!(head.checksum_type(), Some(&ChecksumType::FullObject));
    assert_eq!(head.content_length(), Some(whole.len() as i64));
    assert_eq!(head.content_type(), Some("text/plain"));
    assert_eq!(head.e_tag(), done.e_tag());
    assert!(s.get("mp").await == Some(whole.clone()));
    let err = c.list_parts().bucket(BUCKET).key("mp").upload_id(id).send().await.unwrap_err();
    assert_eq!(code(&err), "NoSuchUpload");

    // Completing over an existing key with If-None-Match: * is refused; the object stays.
    let again = c.create_multipart_upload().bucket(BUCKET).key("mp").send().await.unwrap();
    let again_id = again.upload_id().unwrap();
    let part = c
        .upload_part()
        .bucket(BUCKET)
        .key("mp")
        .upload_id(again_id)
        .part_number(1)
        .body(ByteStream::from_static(b"small"))
        .send()
        .await
        .unwrap();
    let list = CompletedMultipartUpload::builder()
        .parts(CompletedPart::builder().part_number(1).e_tag(part.e_tag().unwrap()).build())
        .build();
    let err = c
        .complete_multipart_upload()
        .bucket(BUCKET)
        .key("mp")
        .upload_id(again_id)
        .if_none_match("*")
        .multipart_upload(list)
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&err), 412, "{err:?}");
    let head = c.head_object().bucket(BUCKET).key("mp").send().await.unwrap();
    assert_eq!(head.content_length(), Some(whole.len() as i64));
    c.abort_multipart_upload().bucket(BUCKET).key("mp").upload_id(again_id).send().await.unwrap();

    // Every part but the last is at least 5 MiB.
    let small = c.create_multipart_upload().bucket(BUCKET).key("small").send().await.unwrap();
    let small_id = small.upload_id().unwrap();
    let mut list = CompletedMultipartUpload::builder();
    for n in 1..=2 {
        let out = c
            .upload_part()
            .bucket(BUCKET)
            .key("small")
            .upload_id(small_id)
            .part_number(n)
            .body(ByteStream::from_static(b"tiny"))
            .send()
            .await
            .unwrap();
        list = list.parts(CompletedPart::builder().part_number(n).e_tag(out.e_tag().unwrap()).build());
    }
    let err = c
        .complete_multipart_upload()
        .bucket(BUCKET)
        .key("small")
        .upload_id(small_id)
        .multipart_upload(list.build())
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "EntityTooSmall");
    let uploads = c.list_multipart_uploads().bucket(BUCKET).send().await.unwrap();
    assert_eq!(uploads.uploads().len(), 1);
    assert!(s.store_tmp_is_empty());
}

#[tokio::test]
async fn range_get_and_listing() {
    let s = server().await;
    s.put("r", b"0123456789").await;
    let out = s.client.get_object().bucket(BUCKET).key("r").range("bytes=2-5").send().await.unwrap();
    assert_eq!(out.content_range(), Some("bytes 2-5/10"));
    assert_eq!(&out.body.collect().await.unwrap().into_bytes()[..], b"2345");
    let out = s.client.get_object().bucket(BUCKET).key("r").range("bytes=-3").send().await.unwrap();
    assert_eq!(&out.body.collect().await.unwrap().into_bytes()[..], b"789");
    let req = s.client.get_object().bucket(BUCKET).key("r").presigned(presign_config()).await.unwrap();
    let resp = reqwest::Client::new().get(req.uri()).header("range", "bytes=8-").send().await.unwrap();
    assert_eq!(resp.status(), 206);
    assert_eq!(&resp.bytes().await.unwrap()[..], b"89");

    for key in ["a/1", "a/2", "a/b/3", "c", "d/4", "../x", &"k".repeat(1000)] {
        s.put(key, key.as_bytes()).await;
    }
    let list = |prefix: &str, delimiter: Option<&str>| {
        s.client.list_objects_v2().bucket(BUCKET).prefix(prefix).set_delimiter(delimiter.map(str::to_owned)).send()
    };
    let keys = |out: &aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output| {
        let objects: Vec<String> = out.contents().iter().map(|o| o.key().unwrap().to_owned()).collect();
        let prefixes: Vec<String> = out.common_prefixes().iter().map(|p| p.prefix().unwrap().to_owned()).collect();
        (objects, prefixes)
    };
    let out = list("a/", Some("/")).await.unwrap();
    assert_eq!(keys(&out), (vec!["a/1".to_owned(), "a/2".to_owned()], vec!["a/b/".to_owned()]));
    let out = list("", Some("/")).await.unwrap();
    assert_eq!(keys(&out).1, vec!["../", "a/", "d/"]);
    assert_eq!(keys(&out).0, vec!["c".to_owned(), "k".repeat(1000), "r".to_owned()]);
    assert_eq!(s.get("../x").await.as_deref(), Some(&b"../x"[..]));

    // Paging two at a time walks every key once, in order.
    let mut seen = Vec::new();
    let mut token = None;
    loop {
        let out = s
            .client
            .list_objects_v2()
            .bucket(BUCKET)
            .max_keys(2)
            .set_continuation_token(token.take())
            .send()
            .await
            .unwrap();
        seen.extend(keys(&out).0);
        match out.next_continuation_token() {
            Some(next) => token = Some(next.to_owned()),
            None => break,
        }
    }
    let mut expected: Vec<String> = ["a/1", "a/2", "a/b/3", "c", "d/4", "../x", "r"]
        .map(str::to_owned)
        .into_iter()
        .chain(["k".repeat(1000)])
        .collect();
    expected.sort();
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn presigned_create_only_put_works_once() {
    let s = server().await;
    let data = b"artifact bytes".to_vec();
    let req = s.presigned_put("b/presigned", &data).await;
    let headers: Vec<(String, String)> = req.headers().map(|(n, v)| (n.to_owned(), v.to_owned())).collect();
    let signed = reqwest::Url::parse(req.uri())
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "X-Amz-SignedHeaders")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    eprintln!("presigned PUT headers: {headers:?}\nX-Amz-SignedHeaders: {signed}");
    for name in ["content-length", "x-amz-checksum-sha256", "if-none-match"] {
        assert!(headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)), "{name} missing from {headers:?}");
        assert!(signed.split(';').any(|n| n == name), "{name} not signed: {signed}");
    }

    let resp = s.send(&req, data.clone()).await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    let replay = s.send(&req, data.clone()).await;
    assert_eq!(replay.status(), 412);
    let other = s.send(&req, b"other  bytes!!".to_vec()).await;
    assert_eq!(other.status(), 412);
    assert_eq!(s.get("b/presigned").await, Some(data.clone()));

    // Other bytes under a fresh URL: refused by the signed checksum, nothing stored.
    let req = s.presigned_put("b/tampered", &data).await;
    let resp = s.send(&req, b"other  bytes!!".to_vec()).await;
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("BadDigest"));
    assert_eq!(s.get("b/tampered").await, None);
    assert!(s.store_tmp_is_empty());
}

#[tokio::test]
async fn presigned_get_applies_response_overrides() {
    let s = server().await;
    s.client
        .put_object()
        .bucket(BUCKET)
        .key("page")
        .content_type("application/octet-stream")
        .body(ByteStream::from_static(b"<p>hi</p>"))
        .send()
        .await
        .unwrap();
    let req = s
        .client
        .get_object()
        .bucket(BUCKET)
        .key("page")
        .response_content_type("text/html")
        .response_content_disposition("attachment; filename=\"page.html\"")
        .presigned(presign_config())
        .await
        .unwrap();
    let resp = reqwest::get(req.uri()).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/html");
    assert_eq!(resp.headers()["content-disposition"], "attachment; filename=\"page.html\"");
    assert_eq!(&resp.bytes().await.unwrap()[..], b"<p>hi</p>");
}

#[tokio::test]
async fn copy_delete_and_buckets() {
    let s = server().await;
    let c = &s.client;
    s.put("src", b"copied").await;
    let out = c.copy_object().bucket(BUCKET).key("dst").copy_source(format!("{BUCKET}/src")).send().await.unwrap();
    assert!(out.copy_object_result().unwrap().e_tag().is_some());
    assert_eq!(s.get("dst").await.as_deref(), Some(&b"copied"[..]));

    let delete = Delete::builder()
        .objects(ObjectIdentifier::builder().key("src").build().unwrap())
        .objects(ObjectIdentifier::builder().key("missing").build().unwrap())
        .build()
        .unwrap();
    let out = c.delete_objects().bucket(BUCKET).delete(delete).send().await.unwrap();
    assert_eq!(out.deleted().len(), 2);
    assert_eq!(s.get("src").await, None);

    let err = c.create_bucket().bucket(BUCKET).send().await.unwrap_err();
    assert_eq!(code(&err), "BucketAlreadyOwnedByYou");
    c.create_bucket().bucket("other").send().await.unwrap();
    let names: Vec<String> =
        c.list_buckets().send().await.unwrap().buckets().iter().map(|b| b.name().unwrap().to_owned()).collect();
    assert_eq!(names, ["other", BUCKET]);
    c.get_bucket_location().bucket("other").send().await.unwrap();
    let err = c.delete_bucket().bucket(BUCKET).send().await.unwrap_err();
    assert_eq!(code(&err), "BucketNotEmpty");
    c.delete_bucket().bucket("other").send().await.unwrap();
    let err = c.head_bucket().bucket("other").send().await.unwrap_err();
    assert_eq!(status(&err), 404);
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn files_are_private_and_leftovers_are_removed_at_start() {
    let s = server().await;
    s.put("private", b"secret").await;
    let root = s.dir.path().join("store");
    let name = hex::encode(Sha256::digest(b"private"));
    let fan = root.join("buckets").join(BUCKET).join(&name[..2]);
    assert_eq!(mode(&fan.join(&name)), 0o600);
    for dir in [&root, &root.join("tmp"), &root.join("buckets").join(BUCKET), &fan] {
        assert_eq!(mode(dir), 0o700, "{}", dir.display());
    }

    std::fs::write(root.join("tmp/leftover"), b"partial").unwrap();
    let again = server_in(s.dir).await;
    assert!(again.store_tmp_is_empty());
    assert_eq!(again.get("private").await.as_deref(), Some(&b"secret"[..]));
}

#[tokio::test]
async fn an_s3s_fs_data_dir_is_imported_once() {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("s3");
    std::fs::create_dir_all(old.join(BUCKET).join("b")).unwrap();
    std::fs::create_dir_all(old.join(BUCKET).join("x/y")).unwrap();
    std::fs::write(old.join(BUCKET).join("b/0123abcd"), b"old artifact").unwrap();
    std::fs::write(old.join(BUCKET).join("x/y/z"), b"nested").unwrap();
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let meta = old.join(format!(".bucket-{}.object-{}.metadata.json", b64(BUCKET), b64("b/0123abcd")));
    std::fs::write(meta, br#"{"content_type":"text/html"}"#).unwrap();

    let s = server_in(dir).await;
    assert_eq!(s.get("b/0123abcd").await.as_deref(), Some(&b"old artifact"[..]));
    assert_eq!(s.get("x/y/z").await.as_deref(), Some(&b"nested"[..]));
    let head = s.client.head_object().bucket(BUCKET).key("b/0123abcd").send().await.unwrap();
    assert_eq!(head.content_type(), Some("text/html"));
    assert_eq!(head.checksum_sha256(), Some(sha256_b64(b"old artifact").as_str()));
    assert!(!s.dir.path().join("s3").exists());
    assert!(s.dir.path().join("s3.imported").is_dir());
}

/// An upload URL is that upload and nothing else: the headers that would make it a copy of
/// another key (or change what it writes) are refused, signed or not, and a download URL does
/// not write.
#[tokio::test]
async fn a_presigned_url_does_only_what_was_signed() {
    let s = server().await;
    s.put("p/secret", b"another project's secret").await;
    let data = b"my own bytes".to_vec();
    let put = s.presigned_put("b/mine", &data).await;
    let send_with = |name: &'static str, value: &'static str, body: Vec<u8>| {
        let mut builder = reqwest::Client::new().put(put.uri());
        for (n, v) in put.headers() {
            builder = builder.header(n, v);
        }
        builder.header(name, value).body(body).send()
    };
    let copy = send_with("x-amz-copy-source", "vitrine/p/secret", Vec::new()).await.unwrap();
    assert_eq!(copy.status(), 403);
    assert!(copy.text().await.unwrap().contains("AccessDenied"));
    assert_eq!(s.get("b/mine").await, None, "the copy must not have happened");
    for (name, value) in [
        ("x-amz-copy-source", "/vitrine/p/secret"),
        ("x-amz-metadata-directive", "REPLACE"),
        ("x-amz-tagging", "a=b"),
        ("x-amz-acl", "public-read"),
        ("x-amz-grant-read", "uri=http://acs.amazonaws.com/groups/global/AllUsers"),
        ("x-amz-website-redirect-location", "https://example.com/"),
        ("x-amz-storage-class", "GLACIER"),
        ("x-amz-server-side-encryption", "AES256"),
        ("x-amz-meta-owner", "someone"),
        ("x-amz-checksum-crc32", "AAAAAA=="),
    ] {
        let resp = send_with(name, value, data.clone()).await.unwrap();
        assert_eq!(resp.status(), 403, "{name}");
        assert_eq!(s.get("b/mine").await, None, "{name}");
    }
    // As signed, it works.
    assert_eq!(s.send(&put, data.clone()).await.status(), 200);
    assert_eq!(s.get("b/mine").await, Some(data.clone()));

    // A download URL used to write, to delete or to copy.
    let get = s.client.get_object().bucket(BUCKET).key("b/other").presigned(presign_config()).await.unwrap();
    for method in ["PUT", "DELETE", "POST"] {
        let resp = reqwest::Client::new()
            .request(method.parse().unwrap(), get.uri())
            .header("x-amz-copy-source", "vitrine/p/secret")
            .body(data.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 403, "{method}");
    }
    assert_eq!(s.get("b/other").await, None);
    // The store's own keys still copy, as the server's verification by copy does.
    s.client.copy_object().bucket(BUCKET).key("b/copy").copy_source("vitrine/p/secret").send().await.unwrap();
    assert_eq!(s.get("b/copy").await.as_deref(), Some(&b"another project's secret"[..]));
}
