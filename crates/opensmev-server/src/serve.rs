//! The HTTP/1.1 server loop: accepts connections up to a limit, serves each with hyper under a
//! header-read timeout — over TLS when configured — and shuts down gracefully.
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
//!
//! HTTPS ([`tls_acceptor`], keys `tls_cert`/`tls_key`): the listener speaks TLS only (1.2 and
//! 1.3, OpenSSL with Mozilla's "intermediate" settings). The handshake runs in the connection's
//! task, after the connection took its slot, and must finish within `header_read_timeout` (a
//! client that connects and never completes it holds the slot no longer than a silent plain
//! client would). With `tls_client_ca` the client's certificate chain is verified against those
//! CAs in the handshake (mTLS; a client without a certificate, or with one from another CA, is
//! refused there); the verified certificate reaches the handlers as the request extension
//! [`ClientCertificate`]. It authenticates the connection only: the SMEV identity of a caller
//! still comes from the signature in the message.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use openssl::pkey::PKey;
use openssl::ssl::{Ssl, SslAcceptor, SslMethod, SslVerifyMode, SslVersion};
use openssl::x509::X509;
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::verify::X509VerifyFlags;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio_openssl::SslStream;

use crate::config::{Config, ConfigError, TlsClientAuth};

/// Connection limits of [`serve`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnectionLimits {
    /// Most open connections.
    pub(crate) max_connections: usize,
    /// Time allowed for a complete request head, from when the connection starts waiting for it.
    pub(crate) header_read_timeout: Duration,
}

/// The client's TLS certificate (DER), verified against `tls_client_ca` in the handshake: an
/// extension of every request of an HTTPS connection whose client presented one. It says which
/// client opened the connection, not which IS calls (that is the message's signature).
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(dead_code)] // For the handlers (a per-IS binding of connections is planned).
pub(crate) struct ClientCertificate(pub(crate) Arc<[u8]>);

/// The TLS settings of the listener, from `tls_cert`, `tls_key`, `tls_client_ca` and
/// `tls_client_auth`; `None` without TLS. Every problem is an error naming the key and the file:
/// unreadable, not PEM, no certificate, a key that does not match the certificate.
pub(crate) fn tls_acceptor(config: &Config) -> Result<Option<Arc<SslAcceptor>>, ConfigError> {
    let (Some(cert_path), Some(key_path)) = (&config.tls_cert, &config.tls_key) else {
        return Ok(None);
    };
    let invalid = |what: String| ConfigError::Invalid(what);
    let chain = read_certificates("tls_cert", cert_path)?;
    let key_pem = read_file("tls_key", key_path)?;
    let key = PKey::private_key_from_pem(&key_pem).map_err(|e| {
        invalid(format!(
            "tls_key {}: not an unencrypted PEM private key ({e})",
            key_path.display()
        ))
    })?;
    let mismatch = || {
        invalid(format!(
            "tls_key {} does not match the certificate in tls_cert {}",
            key_path.display(),
            cert_path.display()
        ))
    };
    if !chain[0]
        .public_key()
        .is_ok_and(|public| public.public_eq(&key))
    {
        return Err(mismatch());
    }
    let tls = |e: openssl::error::ErrorStack| invalid(format!("TLS settings: {e}"));
    let mut builder = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server()).map_err(tls)?;
    builder
        .set_min_proto_version(Some(SslVersion::TLS1_2))
        .map_err(tls)?;
    builder.set_certificate(&chain[0]).map_err(|e| {
        invalid(format!(
            "tls_cert {}: the certificate cannot be used ({e})",
            cert_path.display()
        ))
    })?;
    for intermediate in &chain[1..] {
        builder
            .add_extra_chain_cert(intermediate.clone())
            .map_err(tls)?;
    }
    builder.set_private_key(&key).map_err(|e| {
        invalid(format!(
            "tls_key {}: the key cannot be used ({e})",
            key_path.display()
        ))
    })?;
    builder.check_private_key().map_err(|_| mismatch())?;
    if let Some(ca_path) = &config.tls_client_ca {
        let cas = read_certificates("tls_client_ca", ca_path)?;
        let mut store = X509StoreBuilder::new().map_err(tls)?;
        // The CAs listed are trusted as they are, also an intermediate one without its root.
        store
            .set_flags(X509VerifyFlags::PARTIAL_CHAIN)
            .map_err(tls)?;
        for ca in &cas {
            store.add_cert(ca.clone()).map_err(tls)?;
            builder.add_client_ca(ca).map_err(tls)?;
        }
        builder.set_verify_cert_store(store.build()).map_err(tls)?;
        builder.set_verify(match config.tls_client_auth {
            TlsClientAuth::Required => SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT,
            TlsClientAuth::Optional => SslVerifyMode::PEER,
        });
        // Resumed sessions keep the verified certificate; OpenSSL needs a context id for them.
        builder.set_session_id_context(b"opensmev").map_err(tls)?;
    }
    Ok(Some(Arc::new(builder.build())))
}

fn read_file(key: &str, path: &Path) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path)
        .map_err(|e| ConfigError::Invalid(format!("{key} {}: cannot read: {e}", path.display())))
}

/// The PEM certificates of a file, at least one.
fn read_certificates(key: &str, path: &Path) -> Result<Vec<X509>, ConfigError> {
    let pem = read_file(key, path)?;
    match X509::stack_from_pem(&pem) {
        Ok(certificates) if !certificates.is_empty() => Ok(certificates),
        Ok(_) => Err(ConfigError::Invalid(format!(
            "{key} {}: no PEM certificate in it",
            path.display()
        ))),
        Err(e) => Err(ConfigError::Invalid(format!(
            "{key} {}: not PEM certificates ({e})",
            path.display()
        ))),
    }
}

/// How long a closing connection is read (and what arrives discarded) after the server's last
/// byte: at most this long in all…
const LINGER_TOTAL: Duration = Duration::from_secs(2);

/// …and until nothing arrives for this long (long enough for a client on a loaded machine to
/// go on writing a refused body; 200 ms lost answers under load).
const LINGER_IDLE: Duration = Duration::from_millis(1000);

/// Closes a connection the way HTTP/1.1 servers must when a request body may still be on its
/// way (RFC 9112 §9.6, "lingering close"): the write side is shut first, then what the client
/// still sends is read and discarded for a short, bounded while before the socket is closed.
/// Closing at once with unread data makes the kernel reset the connection, and a client still
/// writing a refused body (a 413 answered before the body was read) would lose the answer.
/// Over TLS the close is announced first (`close_notify`), then the same.
async fn linger<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S) {
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
/// connection finish its current request and waits for them. With `tls`, every connection
/// starts with a TLS handshake ([`tls_acceptor`]).
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    tls: Option<Arc<SslAcceptor>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    if let Ok(address) = listener.local_addr() {
        tracing::info!(
            %address,
            scheme = if tls.is_some() { "https" } else { "http" },
            max_connections = limits.max_connections,
            "serving"
        );
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
        let http = http.clone();
        let mut stop = stop_rx.clone();
        let tls = tls.clone();
        connections.spawn(async move {
            let _permit = permit;
            let Some(acceptor) = tls else {
                return serve_connection(&http, stream, router, remote, None, stop).await;
            };
            let handshake = tokio::select! {
                result = tokio::time::timeout(limits.header_read_timeout, handshake(&acceptor, stream)) => result,
                // Stopping: a connection without a request yet is simply closed.
                _ = stop.changed() => return,
            };
            match handshake {
                Ok(Ok(stream)) => {
                    let certificate = stream
                        .ssl()
                        .peer_certificate()
                        .and_then(|c| c.to_der().ok())
                        .map(|der| ClientCertificate(der.into()));
                    serve_connection(&http, stream, router, remote, certificate, stop).await;
                }
                Ok(Err(e)) => {
                    tracing::info!(%remote, reason = %e, "TLS handshake refused");
                }
                Err(_) => {
                    tracing::info!(
                        %remote,
                        timeout_ms = limits.header_read_timeout.as_millis() as u64,
                        "TLS handshake not completed in time: connection closed"
                    );
                }
            }
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

/// The server side of a TLS handshake on `stream`.
async fn handshake(
    acceptor: &SslAcceptor,
    stream: tokio::net::TcpStream,
) -> Result<SslStream<tokio::net::TcpStream>, String> {
    let ssl = Ssl::new(acceptor.context()).map_err(|e| e.to_string())?;
    let mut stream = SslStream::new(ssl, stream).map_err(|e| e.to_string())?;
    match std::pin::Pin::new(&mut stream).accept().await {
        Ok(()) => Ok(stream),
        Err(e) => {
            // The certificate verification's own reason says more than "handshake failure".
            let verify = stream.ssl().verify_result();
            Err(if verify != openssl::x509::X509VerifyResult::OK {
                format!("client certificate: {}", verify.error_string())
            } else if let Some(stack) = e.ssl_error() {
                stack.to_string()
            } else {
                e.to_string()
            })
        }
    }
}

/// Serves the HTTP/1.1 requests of one connection (plain or TLS) until it ends or, after `stop`,
/// until its current request is answered; then closes it with [`linger`].
async fn serve_connection<S>(
    http: &hyper::server::conn::http1::Builder,
    stream: S,
    router: Router,
    remote: SocketAddr,
    certificate: Option<ClientCertificate>,
    mut stop: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |mut request: http::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(remote));
        if let Some(certificate) = &certificate {
            request.extensions_mut().insert(certificate.clone());
        }
        let mut router = router.clone();
        Box::pin(async move { tower::Service::call(&mut router, request).await })
    });
    let mut connection = http.serve_connection(TokioIo::new(stream), service);
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use opensmev_testkit::tls::TestCa;

    /// With mTLS the handlers see the client's verified certificate ([`ClientCertificate`]),
    /// byte for byte; over plain TLS without one they see none.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn handlers_see_the_verified_client_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::new("CA");
        std::fs::write(dir.path().join("ca.pem"), ca.cert_pem()).unwrap();
        let (cert, key) = ca.issue_server().write(dir.path(), "server");
        let client = ca.issue_client("client");
        for (client_auth, identity) in [
            (TlsClientAuth::Required, Some(&client)),
            (TlsClientAuth::Optional, None),
        ] {
            let config = Config {
                tls_cert: Some(cert.clone()),
                tls_key: Some(key.clone()),
                tls_client_ca: Some(dir.path().join("ca.pem")),
                tls_client_auth: client_auth,
                ..Config::default()
            };
            let acceptor = tls_acceptor(&config).unwrap().expect("TLS configured");
            let router = Router::new().route(
                "/",
                axum::routing::get(
                    |certificate: Option<axum::Extension<ClientCertificate>>| async move {
                        certificate.map_or_else(Vec::new, |c| c.0.0.to_vec())
                    },
                ),
            );
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let address = listener.local_addr().unwrap();
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let limits = ConnectionLimits {
                max_connections: 4,
                header_read_timeout: Duration::from_secs(5),
            };
            let server = tokio::spawn(serve(listener, router, limits, Some(acceptor), async {
                let _ = stopped.await;
            }));
            let mut http = reqwest::Client::builder()
                .tls_certs_only([reqwest::Certificate::from_pem(&ca.cert_pem()).unwrap()]);
            if let Some(identity) = identity {
                http = http.identity(
                    reqwest::Identity::from_pkcs8_pem(&identity.cert_pem, &identity.key_pem)
                        .unwrap(),
                );
            }
            let seen = http
                .build()
                .unwrap()
                .get(format!("https://{address}/"))
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            let expected = identity.map_or_else(Vec::new, |i| {
                X509::from_pem(&i.cert_pem).unwrap().to_der().unwrap()
            });
            assert!(identity.is_none() || !expected.is_empty());
            assert_eq!(seen.to_vec(), expected, "{client_auth:?}");
            let _ = stop.send(());
            server.await.unwrap().unwrap();
        }
    }
}
