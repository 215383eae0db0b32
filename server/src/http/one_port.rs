//! One port for the app and the embedded store: requests under the store's bucket path
//! (`/vitrine/...`, the path-style URLs it signs) go to the store's S3 service untouched (the
//! same path, query and `Host`, so SigV4 signatures check exactly as on the store's own port);
//! every other request goes to the app, with the peer's address. A team then opens one port
//! (and keeps one TLS certificate) for browsers, build agents and their uploads.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use hyper::body::Incoming;
use tower::{Service, ServiceExt};

/// Whether a path is in the embedded store's bucket (`/vitrine/...`).
fn in_bucket(path: &str) -> bool {
    path.strip_prefix('/').and_then(|p| p.strip_prefix(vitrine_s3::BUCKET)).is_some_and(|rest| rest.starts_with('/'))
}

/// The app, and the embedded store when this server runs it. hyper clones the service for
/// every request: the store's service (its CORS settings are several allocations) is shared
/// behind an `Arc` and cloned for the store's own requests only.
#[derive(Clone)]
pub struct OnePort {
    app: axum::Router,
    s3: Option<Arc<vitrine_s3::Service>>,
    peer: SocketAddr,
}

impl OnePort {
    pub fn new(app: axum::Router, s3: Option<Arc<vitrine_s3::Service>>, peer: SocketAddr) -> OnePort {
        OnePort { app, s3, peer }
    }
}

impl Service<http::Request<Incoming>> for OnePort {
    type Response = http::Response<Body>;
    type Error = Infallible;
    /// The app's own future as it is (its requests pay no allocation here); the store's boxed.
    type Future = futures::future::Either<
        Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>,
        axum::routing::future::RouteFuture<Infallible>,
    >;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut request: http::Request<Incoming>) -> Self::Future {
        if let Some(s3) = self.s3.as_deref().filter(|_| in_bucket(request.uri().path())).cloned() {
            return futures::future::Either::Left(Box::pin(async move {
                Ok(match s3.oneshot(request).await {
                    Ok(answer) => answer.map(Body::new),
                    Err(e) => {
                        tracing::warn!(error = ?e, "embedded S3 request failed");
                        let mut answer = http::Response::new(Body::from("The object store failed\n"));
                        *answer.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
                        answer
                    }
                })
            }));
        }
        request.extensions_mut().insert(axum::extract::ConnectInfo(self.peer));
        // The router is always ready (axum's `poll_ready` answers Ready at once).
        futures::future::Either::Right(self.app.call(request.map(Body::new)))
    }
}
