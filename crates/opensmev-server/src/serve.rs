//! The HTTP/1.1 server loop: accepts connections up to a limit, serves each with hyper under a
//! header-read timeout, and shuts down gracefully.
//!
//! Why not `axum::serve`: it builds hyper without a timer, so no header-read timeout ever
//! applies (a client dribbling headers, or connecting and sending nothing, holds a connection
//! for ever), and it has no connection limit. Here:
//! * at most `max_connections` connections are open; at the limit the loop stops accepting and
//!   new connections wait in the kernel's listen backlog;
//! * a connection waiting for a request's head — a new one, an idle keep-alive one, or one
//!   sending its headers slowly — is closed when the head is not complete within
//!   `header_read_timeout` (hyper's timer, counted from when the wait starts);
//! * HTTP/1.x only: HTTP/2 (prior-knowledge cleartext or `Upgrade: h2c`) is not spoken, so its
//!   rapid-reset and CONTINUATION floods do not apply; an HTTP/2 preface is a malformed HTTP/1
//!   request and the connection is closed;
//! * slow request bodies are the handlers' concern (`soap.rs` reads them with an idle timeout);
//! * a connection is closed with a bounded "lingering close" ([`linger`]), so that a client still
//!   sending a body the server refused reads the refusal instead of a reset.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

/// Connection limits of [`serve`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnectionLimits {
    /// Most open connections.
    pub(crate) max_connections: usize,
    /// Time allowed for a complete request head, from when the connection starts waiting for it.
    pub(crate) header_read_timeout: Duration,
}

/// How long a closing connection is read (and what arrives discarded) after the server's last
/// byte: at most this long in all…
const LINGER_TOTAL: Duration = Duration::from_secs(2);

/// …and until nothing arrives for this long.
const LINGER_IDLE: Duration = Duration::from_millis(200);

/// Closes a connection the way HTTP/1.1 servers must when a request body may still be on its
/// way (RFC 9112 §9.6, "lingering close"): the write side is shut first, then what the client
/// still sends is read and discarded for a short, bounded while before the socket is closed.
/// Closing at once with unread data makes the kernel reset the connection, and a client still
/// writing a refused body (a 413 answered before the body was read) would lose the answer.
async fn linger(mut stream: tokio::net::TcpStream) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    if stream.shutdown().await.is_err() {
        return;
    }
    let deadline = tokio::time::Instant::now() + LINGER_TOTAL;
    let mut buffer = [0u8; 4096];
    loop {
        let wait = deadline
            .saturating_duration_since(tokio::time::Instant::now())
            .min(LINGER_IDLE);
        match tokio::time::timeout(wait, stream.read(&mut buffer)).await {
            Ok(Ok(n)) if n > 0 => {}
            _ => return,
        }
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then stops accepting, lets every
/// connection finish its current request and waits for them.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    if let Ok(address) = listener.local_addr() {
        tracing::info!(%address, max_connections = limits.max_connections, "serving");
    }
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&slots).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        while connections.try_join_next().is_some() {}
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: http::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(remote));
            let mut router = router.clone();
            Box::pin(async move { tower::Service::call(&mut router, request).await })
        });
        let mut connection = http.serve_connection(TokioIo::new(stream), service);
        let mut stop = stop_rx.clone();
        connections.spawn(async move {
            let _permit = permit;
            let mut stopping = false;
            let result = loop {
                let event = tokio::select! {
                    result = std::future::poll_fn(|cx| connection.poll_without_shutdown(cx)) => Some(result),
                    _ = stop.changed(), if !stopping => None,
                };
                match event {
                    Some(result) => break result,
                    None => {
                        stopping = true;
                        std::pin::Pin::new(&mut connection).graceful_shutdown();
                    }
                }
            };
            if let Err(e) = result {
                tracing::debug!(%remote, error = %e, "connection ended with an error");
            }
            linger(connection.into_parts().io.into_inner()).await;
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    tracing::info!(
        connections = connections.len(),
        "stopping: no new connections; the open ones finish their calls"
    );
    while connections.join_next().await.is_some() {}
    tracing::info!("stopped");
    Ok(())
}
