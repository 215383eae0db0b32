//! The accept loop of every listener of `vitrine serve` (the app, the artifacts origin and
//! the embedded S3 server):
//!
//! - a client gets [`HEADER_TIMEOUT`] to send a request's headers, so slow-loris connections
//!   are dropped instead of holding sockets;
//! - when accepting fails because the process ran out of file descriptors, the loop says so
//!   once a minute at most and waits a moment (it never spins), and the connections it holds
//!   are served on;
//! - on shutdown it stops accepting and gives requests in flight up to [`DRAIN_TIMEOUT`].

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// How long a client may take to send a request's headers.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long requests in flight get to finish once the server is asked to stop.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Tells the accept loops to stop; cheap to clone.
pub type ShutdownSignal = watch::Receiver<bool>;

/// Serves connections from `listener` with the service `service_for(peer)` makes, until
/// `shutdown` turns true; then drains. `what` names the listener in logs.
pub async fn serve<S, B>(
    listener: TcpListener,
    what: &'static str,
    mut shutdown: ShutdownSignal,
    service_for: impl Fn(SocketAddr) -> S + Send,
) where
    S: tower::Service<http::Request<Incoming>, Response = http::Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut builder = Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(HEADER_TIMEOUT);
    builder.http2().timer(TokioTimer::new());
    let graceful = GracefulShutdown::new();
    let mut last_complaint: Option<Instant> = None;
    loop {
        let (socket, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) if is_per_connection(&e) => continue,
                Err(e) => {
                    if last_complaint.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
                        tracing::error!(error = %e, listener = what, "cannot accept connections (out of file descriptors?); serving the open ones and retrying");
                        last_complaint = Some(Instant::now());
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = stopped(&mut shutdown) => break,
        };
        // Answers go out as they are written: without this, a response written in two parts on
        // a kept-alive connection waited for the client's delayed ACK (40 ms on Linux).
        let _ = socket.set_nodelay(true);
        let conn = builder
            .serve_connection_with_upgrades(TokioIo::new(socket), TowerToHyperService::new(service_for(peer)))
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, listener = what, "connection ended");
            }
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(DRAIN_TIMEOUT) => {
            tracing::warn!(listener = what, "requests still in flight after {} s; stopping anyway", DRAIN_TIMEOUT.as_secs());
        }
    }
}

/// Resolves once the signal says stop (never, if whoever could say so is gone).
async fn stopped(signal: &mut ShutdownSignal) {
    while !*signal.borrow_and_update() {
        if signal.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Errors that concern one connection only (it was reset before it was accepted).
fn is_per_connection(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::Interrupted
    )
}
