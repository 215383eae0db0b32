//! An access line per request with its request id, and the request metrics: counted and
//! timed by route template (`/api/v1.1/project/{vcs}/{org}/{repo}/{build_num}/artifacts`),
//! never by path or query (a `circle-token` may ride in the query), and who made it by ids.

use std::sync::{Arc, OnceLock, RwLock};
use std::task::{Context, Poll};
use std::time::Instant;
use vitrine_store::{TokenId, UserId};

use axum::body::Body;
use axum::extract::MatchedPath;
use http::{HeaderValue, Request, Response};

use crate::observe::{HTTP_BYTES, HTTP_DURATION, HTTP_REQUESTS, interned, metrics, status_label};

/// A method as a label: the standard ones by name, anything else a client invents as `other`.
fn method_label(method: &http::Method) -> &'static str {
    use http::Method as M;
    match *method {
        M::GET => "GET",
        M::HEAD => "HEAD",
        M::POST => "POST",
        M::PUT => "PUT",
        M::DELETE => "DELETE",
        M::PATCH => "PATCH",
        M::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Who made a request, as ids, filled in by the extractor that authenticates it (`http::auth`) for the access line.
#[derive(Clone, Default)]
pub struct Who(Arc<OnceLock<(Option<UserId>, Option<TokenId>)>>);

impl Who {
    pub fn set(&self, user_id: Option<UserId>, token_id: Option<TokenId>) {
        let _ = self.0.set((user_id, token_id));
    }
}

pub const REQUEST_ID: http::HeaderName = http::HeaderName::from_static("x-request-id");

/// The request's id: the one a proxy in front gave it when that is a plain token (at most 64
/// letters, digits, `-`, `_`, `.`), else a new one. Answered in `X-Request-Id` and logged.
fn request_id(headers: &http::HeaderMap) -> HeaderValue {
    let given = headers.get(&REQUEST_ID).filter(|v| {
        let b = v.as_bytes();
        !b.is_empty() && b.len() <= 64 && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
    });
    match given {
        Some(v) => v.clone(),
        None => new_request_id(),
    }
}

/// A new request id: 32 hex digits, a random half drawn once per process and a counter, so
/// ids never repeat within a process and hardly across processes, and making one reads no
/// random source.
fn new_request_id() -> HeaderValue {
    use std::sync::atomic::{AtomicU64, Ordering};
    static PROCESS: OnceLock<u64> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let process = *PROCESS.get_or_init(|| uuid::Uuid::new_v4().as_u64_pair().0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut hex = [0u8; 32];
    for (i, digit) in hex.iter_mut().enumerate() {
        let word = if i < 16 { process } else { n };
        let nibble = (word >> (60 - 4 * (i % 16))) & 0xf;
        *digit = b"0123456789abcdef"[nibble as usize];
    }
    HeaderValue::from_bytes(&hex).expect("hex is a header value")
}

/// Gives every request an id, counts and times it by route and status, counts the bytes
/// sent, and writes the access line (`vitrine::access`, level info).
#[derive(Clone, Copy, Default)]
pub struct Access;

impl<S> tower::Layer<S> for Access {
    type Service = AccessService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AccessService { inner, route: Arc::default() }
    }
}

#[derive(Clone)]
pub struct AccessService<S> {
    inner: S,
    /// The metrics of the route this service serves (axum layers every route on its own),
    /// made at its first request: after that, recording looks nothing up.
    route: Arc<OnceLock<Arc<RouteMetrics>>>,
}

/// One route's label and metric handles, and its request counters by method and status.
struct RouteMetrics {
    route: &'static str,
    duration: metrics::Histogram,
    bytes: metrics::Counter,
    requests: RwLock<Vec<(&'static str, u16, metrics::Counter)>>,
}

impl RouteMetrics {
    fn new(route: &'static str) -> Self {
        metrics();
        RouteMetrics {
            route,
            duration: metrics::histogram!(HTTP_DURATION, "route" => route),
            bytes: metrics::counter!(HTTP_BYTES, "route" => route),
            requests: RwLock::default(),
        }
    }

    fn requests(&self, method: &'static str, status: http::StatusCode) -> metrics::Counter {
        let code = status.as_u16();
        let found = self
            .requests
            .read()
            .expect("not poisoned")
            .iter()
            .find(|(m, s, _)| *m == method && *s == code)
            .map(|(_, _, c)| c.clone());
        found.unwrap_or_else(|| {
            let counter = metrics::counter!(HTTP_REQUESTS, "method" => method, "route" => self.route, "status" => status_label(status));
            self.requests.write().expect("not poisoned").push((method, code, counter.clone()));
            counter
        })
    }
}

impl<S, B> tower::Service<Request<Body>> for AccessService<S>
where
    S: tower::Service<Request<Body>, Response = Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
{
    type Response = Response<Counted<B>>;
    type Error = S::Error;
    type Future = futures::future::BoxFuture<'static, Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<Body>) -> Self::Future {
        let started = Instant::now();
        let id = request_id(request.headers());
        let method = method_label(request.method());
        let path = request.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str);
        // One service per route, so its metrics are made once; should a service ever see
        // another route, that request is recorded under its own.
        let metrics = match self.route.get_or_init(|| Arc::new(RouteMetrics::new(interned(path)))) {
            known if known.route == path => known.clone(),
            _ => Arc::new(RouteMetrics::new(interned(path))),
        };
        let who = Who::default();
        request.extensions_mut().insert(who.clone());
        let answer = self.inner.call(request);
        Box::pin(async move {
            let response = answer.await?;
            let latency = started.elapsed();
            let status = response.status();
            metrics.requests(method, status).increment(1);
            metrics.duration.record(latency.as_secs_f64());
            let (user_id, token_id) = who.0.get().copied().unwrap_or_default();
            tracing::info!(
                target: "vitrine::access",
                request_id = id.to_str().unwrap_or_default(),
                method,
                route = metrics.route,
                status = status.as_u16(),
                latency_ms = latency.as_secs_f64() * 1000.0,
                user_id = user_id.map(|id| id.0),
                token_id = token_id.map(|id| id.0),
                "request"
            );
            let mut response = response.map(|inner| Counted { inner, bytes: metrics.bytes.clone(), sent: 0 });
            response.headers_mut().insert(REQUEST_ID, id);
            Ok(response)
        })
    }
}

pin_project_lite::pin_project! {
    /// A response body, its bytes counted into [`HTTP_BYTES`] as they go out (when the
    /// answer is sent, or the client goes away).
    pub struct Counted<B> {
        #[pin]
        inner: B,
        bytes: metrics::Counter,
        sent: u64,
    }

    impl<B> PinnedDrop for Counted<B> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            this.bytes.increment(*this.sent);
        }
    }
}

impl<B: http_body::Body<Data = bytes::Bytes>> http_body::Body for Counted<B> {
    type Data = bytes::Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let frame = std::task::ready!(this.inner.poll_frame(cx));
        if let Some(Ok(data)) = frame.as_ref().map(|f| f.as_ref().map(|f| f.data_ref())) {
            *this.sent += data.map_or(0, |d| d.len() as u64);
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_from_proxies_are_kept_only_when_plain() {
        let mut headers = http::HeaderMap::new();
        headers.insert(&REQUEST_ID, HeaderValue::from_static("lb-1234.abc_DEF"));
        assert_eq!(request_id(&headers), "lb-1234.abc_DEF");
        for hostile in ["a b", "a\"b", "{\"x\":1}", &"x".repeat(65)] {
            headers.insert(&REQUEST_ID, HeaderValue::from_str(hostile).unwrap());
            let id = request_id(&headers);
            assert_ne!(id, hostile);
            assert_eq!(id.len(), 32, "a fresh id: {id:?}");
        }
        assert_eq!(request_id(&http::HeaderMap::new()).len(), 32);
    }

    #[test]
    fn fresh_request_ids_are_hex_and_never_repeat() {
        let ids: std::collections::HashSet<String> =
            (0..1000).map(|_| new_request_id().to_str().unwrap().to_owned()).collect();
        assert_eq!(ids.len(), 1000);
        for id in &ids {
            assert!(id.len() == 32 && id.bytes().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()), "{id}");
        }
        // One process, one random half.
        assert_eq!(ids.iter().map(|id| &id[..16]).collect::<std::collections::HashSet<_>>().len(), 1);
    }

    #[test]
    fn invented_methods_are_other() {
        assert_eq!(method_label(&http::Method::from_bytes(b"BREW").unwrap()), "other");
        assert_eq!(method_label(&http::Method::GET), "GET");
    }
}
