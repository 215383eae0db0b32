//! Hostile requests: every route the server has, with generated path segments, query
//! parameters, headers and bodies (proptest). Whatever comes in, the answer is never a 5xx
//! and the server keeps serving.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use reqwest::Method;

use crate::common::*;

/// Values that broke servers before: traversal, encodings of it, NUL, overflows, odd UTF-8.
const NASTY: &[&str] = &[
    "..",
    ".",
    "%2e%2e",
    "%2E%2E%2F",
    "%00",
    "%ff%fe",
    "%",
    "%zz",
    "a%2Fb",
    "-1",
    "0",
    "1",
    "latest",
    "99999999999999999999",
    "9223372036854775808",
    "$CIRCLE_ARTIFACTS",
    "%E2%80%AE",
    "%C0%AE",
    "~",
    "*",
    "'",
    "%22",
    "%3Cscript%3E",
    "%0D%0ASet-Cookie:%20x=1",
    "github",
    "gh",
    "acme",
    "secret",
    "public-site",
    "bitbucket",
];

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => prop::sample::select(NASTY).prop_map(str::to_owned),
        1 => any::<String>().prop_map(|s| {
            percent_encoding::utf8_percent_encode(&s, percent_encoding::NON_ALPHANUMERIC).to_string()
        }),
        1 => "[a-z0-9._-]{0,12}".prop_map(|s| s),
    ]
}

fn query() -> impl Strategy<Value = String> {
    let key = prop::sample::select(vec![
        "limit",
        "offset",
        "filter",
        "branch",
        "page-token",
        "circle-token",
        "next",
        "shallow",
        "x",
    ]);
    prop::collection::vec((key, segment()), 0..4)
        .prop_map(|pairs| pairs.into_iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&"))
}

fn header_value() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "",
            "navigate",
            "same-origin",
            "cross-site",
            "none",
            "Basic !!!",
            "Basic Og==",
            "Bearer ",
            "vitrine_session=",
            "vitrine_session=x; vitrine_session=y",
            "text/html",
            "application/json",
            "application/x-www-form-urlencoded",
            "3",
            "999",
            "-1",
        ])
        .prop_map(str::to_owned),
        "[ -~]{0,64}",
    ]
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::sample::select(vec![
            "",
            "{}",
            "[]",
            "null",
            "{\"branch\":null}",
            "{\"files\":[{\"path\":\"a\",\"pretty_path\":\"../x\",\"size\":-1}]}",
            "{\"node_index\":9999999999,\"files\":[]}",
            "{\"status\":\"running\"}",
            "{\"uploads\":[{\"upload_id\":\"x\"}]}",
            "username=&password=",
            "vcs=gh&org=acme&repo=secret&build_num=-1",
            "{\"build_num\":0,\"node_total\":100000}",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        prop::collection::vec(any::<u8>(), 0..256),
    ]
}

#[derive(Debug, Clone)]
struct Hostile {
    route: usize,
    segments: Vec<String>,
    query: String,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

fn hostile(routes: usize) -> impl Strategy<Value = Hostile> {
    let header_name = prop::sample::select(vec![
        "circle-token",
        "authorization",
        "cookie",
        "sec-fetch-mode",
        "sec-fetch-site",
        "origin",
        "accept",
        "content-type",
        "vitrine-agent-protocol",
        "x-forwarded-for",
        "if-none-match",
        "range",
    ]);
    (
        0..routes,
        prop::collection::vec(segment(), 8),
        query(),
        prop::collection::vec((header_name, header_value()), 0..5),
        body(),
    )
        .prop_map(|(route, segments, query, headers, body)| Hostile { route, segments, query, headers, body })
}

/// Fills a route's `{placeholders}` with the case's segments.
fn fill(route: &str, segments: &[String]) -> String {
    let mut out = String::new();
    let mut next = segments.iter().cycle();
    let mut rest = route;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..].find('}').map_or(rest.len(), |c| open + c + 1);
        out.push_str(next.next().unwrap());
        rest = &rest[close..];
    }
    out.push_str(rest);
    out
}

#[test]
fn no_hostile_request_meets_a_5xx() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let _in_runtime = rt.enter();
    let f = rt.block_on(async {
        let f = TestApp::with_projects().await;
        assert_ok(
            &f.app
                .run_build(&f.private_build_token, "gh/acme/secret", "main", "echo a > \"$CIRCLE_ARTIFACTS/a.txt\"")
                .await,
        );
        f
    });
    let mut routes: Vec<(Method, String, bool)> =
        vitrine::http::router::routes().into_iter().map(|r| (r.method, r.path, false)).collect();
    routes.extend(vitrine::http::router::page_routes().into_iter().map(|(m, p)| (m, p, false)));
    routes.push((Method::GET, vitrine::http::artifacts_origin::CAPABILITY_ROUTE.to_owned(), true));

    let mut runner = TestRunner::new(Config { cases: 400, failure_persistence: None, ..Config::default() });
    let result = runner.run(&hostile(routes.len()), |case| {
        let (method, route, on_artifacts_origin) = &routes[case.route];
        let base = if *on_artifacts_origin { &f.app.running.artifacts_url } else { &f.app.url };
        let mut url = format!("{base}{}", fill(route, &case.segments));
        if !case.query.is_empty() {
            url = format!("{url}?{}", case.query);
        }
        let Ok(parsed) = reqwest::Url::parse(&url) else { return Ok(()) };
        let mut req = f.app.http.request(method.clone(), parsed).body(case.body.clone());
        for (name, value) in &case.headers {
            req = req.header(*name, value);
        }
        let status = rt.block_on(async { req.send().await.map(|r| r.status().as_u16()) });
        match status {
            Ok(status) if status >= 500 => Err(TestCaseError::fail(format!("{method} {url} answered {status}"))),
            Ok(_) => Ok(()),
            // A request reqwest refuses to send (an invalid header value) reaches no server.
            Err(e) if e.is_builder() => Ok(()),
            Err(e) => Err(TestCaseError::fail(format!("{method} {url}: the connection failed: {e}"))),
        }
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let health = rt.block_on(async { f.app.get("/healthz", None).await.status().as_u16() });
    assert_eq!(health, 200, "the server still serves");
}
