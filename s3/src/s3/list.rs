//! ListObjectsV2 and ListObjects: a bucket's objects in key order, grouped by a delimiter into
//! common prefixes, a page at a time.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use s3s::dto::{
    CommonPrefix, EncodingType, ListObjectsInput, ListObjectsOutput, ListObjectsV2Input, ListObjectsV2Output, Object,
    ObjectStorageClass,
};
use s3s::{S3Request, S3Response, S3Result, s3_error};

use super::output::max_keys;
use crate::store::{FsStore, Record};

/// `encoding-type=url`: like S3, everything but unreserved characters and `/`.
const URL_ENCODE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~').remove(b'/');

/// One page of a listing: objects and common prefixes, merged in key order.
#[derive(Default)]
struct Page {
    objects: Vec<Record>,
    prefixes: Vec<String>,
    truncated: bool,
    /// The last key or prefix listed, where the next page starts after.
    next: Option<String>,
}

fn paginate(mut records: Vec<Record>, prefix: &str, delimiter: Option<&str>, after: Option<&str>, max: usize) -> Page {
    let mut page = Page::default();
    if max == 0 {
        return page;
    }
    records.retain(|r| r.key.starts_with(prefix) && after.is_none_or(|a| r.key.as_str() > a));
    records.sort_unstable_by(|a, b| a.key.cmp(&b.key));
    let delimiter = delimiter.filter(|d| !d.is_empty());
    let mut count = 0;
    for record in records {
        let group = delimiter.and_then(|d| {
            record.key[prefix.len()..].find(d).map(|i| record.key[..prefix.len() + i + d.len()].to_owned())
        });
        if let Some(group) = &group {
            // Keys of a group are contiguous in key order: it was listed here or on an earlier page.
            if after.is_some_and(|a| group.as_str() <= a) || page.next.as_ref() == Some(group) {
                continue;
            }
        }
        if count == max {
            page.truncated = true;
            break;
        }
        count += 1;
        if let Some(group) = group {
            page.next = Some(group.clone());
            page.prefixes.push(group);
        } else {
            page.next = Some(record.key.clone());
            page.objects.push(record);
        }
    }
    if !page.truncated {
        page.next = None;
    }
    page
}

fn list_entry(record: Record, encode: &impl Fn(String) -> String) -> Object {
    Object {
        e_tag: Some(record.e_tag()),
        last_modified: Some(record.last_modified()),
        size: Some(i64::try_from(record.size).unwrap_or(i64::MAX)),
        storage_class: Some(ObjectStorageClass::from_static(ObjectStorageClass::STANDARD)),
        key: Some(encode(record.key)),
        ..Default::default()
    }
}

fn url_encoder(encoding: Option<&EncodingType>) -> impl Fn(String) -> String + use<> {
    let url = encoding.is_some_and(|e| e.as_str() == EncodingType::URL);
    move |s: String| if url { utf8_percent_encode(&s, URL_ENCODE).to_string() } else { s }
}

pub(super) async fn list_objects_v2(
    store: &FsStore,
    req: S3Request<ListObjectsV2Input>,
) -> S3Result<S3Response<ListObjectsV2Output>> {
    let input = req.input;
    let records = store.scan(&input.bucket).await?;
    let token = match &input.continuation_token {
        Some(token) => Some(
            URL_SAFE_NO_PAD
                .decode(token)
                .ok()
                .and_then(|raw| String::from_utf8(raw).ok())
                .ok_or_else(|| s3_error!(InvalidArgument, "invalid continuation token"))?,
        ),
        None => None,
    };
    let after = token.as_deref().max(input.start_after.as_deref());
    let prefix = input.prefix.as_deref().unwrap_or("");
    let max = max_keys(input.max_keys);
    let page = paginate(records, prefix, input.delimiter.as_deref(), after, max);
    let encode = url_encoder(input.encoding_type.as_ref());
    let key_count = i32::try_from(page.objects.len() + page.prefixes.len()).unwrap_or(i32::MAX);
    let output = ListObjectsV2Output {
        name: Some(input.bucket),
        prefix: input.prefix.map(&encode),
        delimiter: input.delimiter.map(&encode),
        start_after: input.start_after.map(&encode),
        max_keys: Some(i32::try_from(max).unwrap_or(i32::MAX)),
        key_count: Some(key_count),
        is_truncated: Some(page.truncated),
        continuation_token: input.continuation_token,
        next_continuation_token: page.next.map(|next| URL_SAFE_NO_PAD.encode(next)),
        contents: Some(page.objects.into_iter().map(|r| list_entry(r, &encode)).collect()),
        common_prefixes: Some(page.prefixes.into_iter().map(|p| CommonPrefix { prefix: Some(encode(p)) }).collect()),
        encoding_type: input.encoding_type,
        ..Default::default()
    };
    Ok(S3Response::new(output))
}

pub(super) async fn list_objects(
    store: &FsStore,
    req: S3Request<ListObjectsInput>,
) -> S3Result<S3Response<ListObjectsOutput>> {
    let input = req.input;
    let records = store.scan(&input.bucket).await?;
    let prefix = input.prefix.as_deref().unwrap_or("");
    let max = max_keys(input.max_keys);
    let page = paginate(records, prefix, input.delimiter.as_deref(), input.marker.as_deref(), max);
    let encode = url_encoder(input.encoding_type.as_ref());
    let output = ListObjectsOutput {
        name: Some(input.bucket),
        prefix: input.prefix.map(&encode),
        delimiter: input.delimiter.map(&encode),
        marker: input.marker.map(&encode),
        max_keys: Some(i32::try_from(max).unwrap_or(i32::MAX)),
        is_truncated: Some(page.truncated),
        next_marker: page.next.map(&encode),
        contents: Some(page.objects.into_iter().map(|r| list_entry(r, &encode)).collect()),
        common_prefixes: Some(page.prefixes.into_iter().map(|p| CommonPrefix { prefix: Some(encode(p)) }).collect()),
        encoding_type: input.encoding_type,
        ..Default::default()
    };
    Ok(S3Response::new(output))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn empty_record() -> Record {
        Record {
            key: String::new(),
            size: 0,
            etag: String::new(),
            sha256: String::new(),
            crc32: None,
            crc32c: None,
            sha1: None,
            crc64nvme: None,
            content_type: None,
            modified_ms: 0,
            parts: None,
        }
    }

    fn record(key: &str) -> Record {
        Record { key: key.to_owned(), ..empty_record() }
    }

    fn names(page: &Page) -> (Vec<&str>, Vec<&str>) {
        (page.objects.iter().map(|r| r.key.as_str()).collect(), page.prefixes.iter().map(String::as_str).collect())
    }

    #[test]
    fn paginate_groups_by_delimiter_and_resumes_after_a_group() {
        let records = ["a/1", "a/2", "a/b/3", "a0", "c", "d/4"].map(record).to_vec();
        let page = paginate(records.clone(), "", Some("/"), None, 1000);
        assert_eq!(names(&page), (vec!["a0", "c"], vec!["a/", "d/"]));
        assert!(!page.truncated);

        let page = paginate(records.clone(), "a/", Some("/"), None, 1000);
        assert_eq!(names(&page), (vec!["a/1", "a/2"], vec!["a/b/"]));

        let first = paginate(records.clone(), "", Some("/"), None, 1);
        assert_eq!(names(&first), (vec![], vec!["a/"]));
        assert!(first.truncated);
        let second = paginate(records.clone(), "", Some("/"), first.next.as_deref(), 2);
        assert_eq!(names(&second), (vec!["a0", "c"], vec![]));
        let third = paginate(records, "", Some("/"), second.next.as_deref(), 2);
        assert_eq!(names(&third), (vec![], vec!["d/"]));
        assert!(!third.truncated);
    }
}
