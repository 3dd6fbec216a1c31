//! The listeners: the main one (plain HTTP or TLS, with accept queue and
//! timeouts) and the metrics one.

use std::sync::Arc;
use std::time::Duration;

use crate::{accept, http, tls, Services};

/// Serve the routes over plain HTTP or TLS until shutdown. A TLS
/// handshake, and each request's headers, must arrive within
/// `connections.handshake_timeout_secs` (slowloris).
pub(crate) async fn serve_http(
    listener: tokio::net::TcpListener,
    tls: Option<Arc<tls::Tls>>,
    services: &Arc<Services>,
) -> std::io::Result<()> {
    let handshake = Duration::from_secs(services.config.connections.handshake_timeout_secs);
    let handle = axum_server::Handle::<accept::QueuedAddr>::new();
    let stop = services.shutdown.clone();
    let stopping = handle.clone();
    tokio::spawn(async move {
        stop.cancelled().await;
        // WebSockets are not HTTP connections any more; they close
        // themselves with 1001 and are awaited through `Services::tasks`.
        stopping.graceful_shutdown(Some(Duration::from_secs(2)));
    });
    let app = http::router(services.clone()).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let queue = services.config.connections.listen_backlog as usize;
    let listener = accept::spawn(listener.into_std()?, queue)?;
    let mut server = axum_server::Server::from_listener(listener)
        .handle(handle)
        .first_request_timeout(handshake);
    server.http_builder().http1().header_read_timeout(handshake);
    match tls {
        Some(tls) => {
            let acceptor =
                axum_server::tls_rustls::RustlsAcceptor::new(tls.rustls.clone()).handshake_timeout(handshake);
            server.acceptor(acceptor).serve(app).await
        }
        None => server.serve(app).await,
    }
}

/// Serve `GET /metrics` on its own listener until shutdown, plain HTTP
/// with the main listener's header timeout.
pub(crate) async fn serve_metrics(listener: std::net::TcpListener, services: Arc<Services>) {
    let handshake = Duration::from_secs(services.config.connections.handshake_timeout_secs);
    let handle = axum_server::Handle::<std::net::SocketAddr>::new();
    let stopping = handle.clone();
    let stop = services.shutdown.clone();
    tokio::spawn(async move {
        stop.cancelled().await;
        stopping.graceful_shutdown(Some(Duration::from_secs(1)));
    });
    let app = http::metrics_router(services.clone());
    let served = async {
        let mut server = axum_server::from_tcp(listener)?
            .handle(handle)
            .first_request_timeout(handshake);
        server.http_builder().http1().header_read_timeout(handshake);
        server.serve(app.into_make_service()).await
    };
    if let Err(e) = served.await {
        tracing::error!(error = %e, "the metrics listener failed");
    }
}

/// Bind with a deliberate accept backlog (tokio's `bind` uses 1024, which
/// a reconnect storm overflows; dropped SYNs wait seconds for a retry) and
/// a fixed send buffer, which accepted sockets inherit.
pub(crate) fn listen(
    addr: std::net::SocketAddr,
    backlog: u32,
    send_buffer: u32,
) -> std::io::Result<tokio::net::TcpListener> {
    let socket = match addr {
        std::net::SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        std::net::SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.set_send_buffer_size(send_buffer)?;
    socket.bind(addr)?;
    socket.listen(backlog)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    #[tokio::test]
    async fn accepted_sockets_inherit_the_fixed_send_buffer() {
        let listener = super::listen("127.0.0.1:0".parse().unwrap(), 16, 48 * 1024).unwrap();
        let client = tokio::net::TcpSocket::new_v4().unwrap();
        client.set_recv_buffer_size(4096).unwrap();
        let _client = client.connect(listener.local_addr().unwrap()).await.unwrap();
        let (accepted, _) = listener.accept().await.unwrap();
        // A client that never reads: the kernel takes what fits and no more
        // (left to autotuning it takes about 3 MB here).
        let chunk = [0u8; 4096];
        let mut written = 0;
        for _ in 0..25 {
            while let Ok(n) = accepted.try_write(&chunk) {
                written += n;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(written < 512 * 1024, "the kernel took {written} bytes");
        let socket = tokio::net::TcpSocket::from_std_stream(accepted.into_std().unwrap());
        let bytes = socket.send_buffer_size().unwrap();
        // Linux doubles the value asked for.
        assert!((48 * 1024..=96 * 1024).contains(&bytes), "send buffer {bytes}");
    }
}
