//! `[tls]`, `[http]` and `[connections]`: how clients reach the server.

use std::path::PathBuf;

use serde::Deserialize;

/// HTTPS/WSS served by the server itself (rustls defaults: TLS 1.2 and
/// 1.3). Either a certificate chain and key in PEM files, re-read on
/// SIGHUP, or a self-signed certificate made at start for trying it out.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain, leaf first.
    pub cert_file: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: Option<PathBuf>,
    /// Make a self-signed certificate for localhost, 127.0.0.1 and ::1 at
    /// each start; its SHA-256 fingerprint is printed. For demos only.
    pub self_signed: bool,
}

impl TlsConfig {
    pub fn enabled(&self) -> bool {
        self.self_signed || self.cert_file.is_some()
    }
}

/// How the web client's files are served.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Let browsers cache Vite's hashed assets (`/assets/<name>-<hash>.<ext>`)
    /// for a year. Off by default: a cached script on a searched phone
    /// reveals the visit (SECURITY.md, "Transport security").
    pub cache_hashed_assets: bool,
    /// Origins, besides the server's own, whose pages may open the
    /// WebSocket, e.g. `["https://chat.example.org"]`. A browser's upgrade
    /// from any other origin gets HTTP 403 (cross-site WebSocket
    /// hijacking). The own origin is the one whose host and port are the
    /// request's `Host`; list the public origin here when a proxy in front
    /// rewrites `Host`. Clients that send no `Origin` (native clients, not
    /// browsers) are not affected.
    pub allowed_origins: Vec<String>,
}

/// Bounds on connections (PROTOCOL.md, "Connections").
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub auth_timeout_secs: u64,
    pub idle_timeout_secs: u64,
    /// Requests one connection may have waiting for durability at once.
    pub max_inflight_requests: usize,
    /// Bad frames tolerated before authentication.
    pub max_errors_before_auth: u32,
    /// WebSocket read buffer per connection (bytes).
    pub read_buffer_bytes: usize,
    /// WebSocket write buffer per connection (bytes).
    pub write_buffer_bytes: usize,
    /// Bytes queued for one client before it counts as a slow consumer
    /// (close 4002). Pushes pause at half of it.
    pub max_send_queue_bytes: usize,
    /// A write to the socket that does not finish in this time means the
    /// client stopped reading: close 4002.
    pub write_stall_secs: u64,
    /// The kernel's send buffer for each accepted socket (Linux doubles
    /// it). Left to itself the kernel grows a buffer to 4 MiB for a client
    /// that never reads; a fixed size bounds that memory and lets a stalled
    /// write show within `write_stall_secs`.
    pub socket_send_buffer_bytes: u32,
    /// A TLS handshake, and an HTTP request's headers, must arrive within
    /// this time or the connection is dropped (slowloris).
    pub handshake_timeout_secs: u64,
    /// Connections the kernel queues before they are accepted (capped by
    /// `net.core.somaxconn`). Too small, and a burst of reconnects has its
    /// SYNs dropped and retried after 1, 3, 7, 15… seconds.
    pub listen_backlog: u32,
    /// Largest HTTP request body any route accepts (HTTP 413 past it). The
    /// staff login route has its own, smaller limit.
    pub max_request_body_bytes: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_connections: 60_000,
            auth_timeout_secs: 10,
            idle_timeout_secs: 300,
            max_inflight_requests: 256,
            max_errors_before_auth: 5,
            read_buffer_bytes: 4096,
            write_buffer_bytes: 4096,
            max_send_queue_bytes: 8 * 1024 * 1024,
            write_stall_secs: 30,
            socket_send_buffer_bytes: 64 * 1024,
            listen_backlog: 4096,
            handshake_timeout_secs: 10,
            max_request_body_bytes: 64 * 1024,
        }
    }
}
