//! Accepting connections on a thread of its own.
//!
//! In a reconnect storm thousands of clients connect within milliseconds.
//! If accepting waits for a tokio worker that is busy authenticating and
//! replaying mailboxes, the kernel's accept queue overflows, dropped
//! handshakes are retried after 1, 3, 7, 15 s, and clients whose retries
//! run late are cut off by the first-request timeout. A plain thread that
//! only calls `accept(2)` keeps the kernel queue empty; the accepted sockets
//! wait in a bounded queue of ours until the HTTP server takes them (their
//! first-request timeout starts then).

use std::io;
use std::net::{Shutdown, SocketAddr};
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::sync::{mpsc, Mutex};

/// A peer address that came through the accept thread (axum-server keys its
/// listener type on the address type).
#[derive(Debug, Clone, Copy)]
pub struct QueuedAddr(pub SocketAddr);

impl axum_server::Address for QueuedAddr {
    type Stream = TcpStream;
    type Listener = QueuedListener;
}

impl axum::extract::connect_info::Connected<QueuedAddr> for SocketAddr {
    fn connect_info(target: QueuedAddr) -> Self {
        target.0
    }
}

/// The receiving end of the accept thread.
pub struct QueuedListener {
    accepted: Mutex<mpsc::Receiver<(std::net::TcpStream, SocketAddr)>>,
    local: SocketAddr,
    /// A handle on the listening socket, shut down on drop to wake the
    /// thread out of `accept(2)`.
    socket: std::net::TcpListener,
}

/// Start accepting `listener`'s connections on a thread; at most `queue`
/// accepted connections wait for the server.
pub fn spawn(listener: std::net::TcpListener, queue: usize) -> io::Result<QueuedListener> {
    listener.set_nonblocking(false)?;
    let local = listener.local_addr()?;
    let socket = listener.try_clone()?;
    let (tx, rx) = mpsc::channel(queue.max(1));
    std::thread::Builder::new()
        .name("accept".into())
        .spawn(move || accept_loop(listener, tx))?;
    Ok(QueuedListener {
        accepted: Mutex::new(rx),
        local,
        socket,
    })
}

fn accept_loop(listener: std::net::TcpListener, tx: mpsc::Sender<(std::net::TcpStream, SocketAddr)>) {
    loop {
        match listener.accept() {
            Ok((stream, peer)) => {
                if stream.set_nonblocking(true).is_err() {
                    continue; // the peer is already gone
                }
                if tx.blocking_send((stream, peer)).is_err() {
                    return; // the server stopped
                }
            }
            Err(_) if tx.is_closed() => return,
            Err(e) => match e.raw_os_error() {
                // Out of file descriptors: wait for connections to close
                // rather than spin (the kernel queue holds the rest).
                Some(code) if code == EMFILE || code == ENFILE => std::thread::sleep(Duration::from_millis(50)),
                // Aborted before we took it, or a signal: just go on.
                _ if matches!(e.kind(), io::ErrorKind::ConnectionAborted | io::ErrorKind::Interrupted) => {}
                _ => {
                    tracing::error!(error = %e, "accepting connections failed");
                    std::thread::sleep(Duration::from_millis(50));
                }
            },
        }
    }
}

const EMFILE: i32 = 24;
const ENFILE: i32 = 23;

impl Drop for QueuedListener {
    fn drop(&mut self) {
        // Closed first, so the thread knows the error it is about to get
        // is the end; on Linux the shutdown makes `accept(2)` return.
        self.accepted.get_mut().close();
        let _ = socket_shutdown(&self.socket);
    }
}

fn socket_shutdown(listener: &std::net::TcpListener) -> io::Result<()> {
    socket2::SockRef::from(listener).shutdown(Shutdown::Both)
}

impl axum_server::AddrListener<TcpStream, QueuedAddr> for QueuedListener {
    async fn bind_to(_addr: QueuedAddr) -> io::Result<Self> {
        Err(io::Error::other("a queued listener is made by accept::spawn"))
    }

    async fn accept_stream(&self) -> io::Result<(TcpStream, QueuedAddr)> {
        let next = self.accepted.lock().await.recv().await;
        let (stream, peer) = next.ok_or_else(|| io::Error::other("the accept thread stopped"))?;
        Ok((TcpStream::from_std(stream)?, QueuedAddr(peer)))
    }

    fn get_local_addr(&self) -> io::Result<QueuedAddr> {
        Ok(QueuedAddr(self.local))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn connections_pass_through_and_dropping_the_listener_stops_the_thread() {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = std_listener.local_addr().unwrap();
        let listener = spawn(std_listener, 4).unwrap();
        // More connections than the queue holds: the thread waits, the
        // kernel keeps the rest, nothing is lost.
        let mut clients = Vec::new();
        for i in 0..10u8 {
            let mut client = TcpStream::connect(addr).await.unwrap();
            client.write_all(&[i]).await.unwrap();
            clients.push(client);
        }
        let mut seen = Vec::new();
        for _ in 0..10 {
            let (mut stream, peer) = axum_server::AddrListener::accept_stream(&listener).await.unwrap();
            assert!(peer.0.ip().is_loopback());
            let mut byte = [0u8; 1];
            stream.read_exact(&mut byte).await.unwrap();
            seen.push(byte[0]);
        }
        seen.sort_unstable();
        assert_eq!(seen, (0..10).collect::<Vec<u8>>());

        drop(listener);
        // The listening socket is shut: new connections are refused.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            match TcpStream::connect(addr).await {
                Err(_) => break,
                Ok(_) => {
                    assert!(std::time::Instant::now() < deadline, "still accepting after drop");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    }
}
