//! The admin socket: `<data_dir>/admin.sock`, a Unix socket of mode 0600
//! (only the server's user, and root, can connect), taking one JSON
//! request line and answering one JSON reply line per connection. sled
//! lets one process open the database, so while the server runs the admin
//! CLI goes through here. Removed when the server stops.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::{AdminContext, AdminReply, AdminRequest};

pub const SOCKET_FILE: &str = "admin.sock";
/// Largest request line read.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;
/// A client must send its request within this time.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Admin connections served at once; more wait in the kernel's backlog.
pub const MAX_CONNECTIONS: usize = 4;

pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(SOCKET_FILE)
}

/// Bind the socket with mode 0600 before it becomes visible under its
/// name: bound under a temporary name, restricted, then renamed. A stale
/// socket from a crashed server is replaced (this process holds the
/// database lock, so no other server owns it).
pub fn bind(data_dir: &Path) -> std::io::Result<UnixListener> {
    let final_path = path(data_dir);
    let tmp = data_dir.join(format!("{SOCKET_FILE}.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let listener = UnixListener::bind(&tmp)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
    }
    std::fs::rename(&tmp, &final_path)?;
    Ok(listener)
}

/// Serve admin commands until `shutdown`, then remove the socket file.
pub async fn serve(listener: UnixListener, socket_path: PathBuf, context: AdminContext, shutdown: CancellationToken) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let permit = tokio::select! {
            _ = shutdown.cancelled() => break,
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let stream = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "admin socket accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let context = context.clone();
        tokio::spawn(async move {
            handle(stream, &context).await;
            drop(permit);
        });
    }
    let _ = std::fs::remove_file(&socket_path);
}

async fn handle(stream: UnixStream, context: &AdminContext) {
    let (read, mut write) = stream.into_split();
    let mut line = Vec::new();
    let mut reader = BufReader::new(read.take(MAX_REQUEST_BYTES as u64 + 1));
    let reply = match tokio::time::timeout(READ_TIMEOUT, reader.read_until(b'\n', &mut line)).await {
        Err(_) => AdminReply::Error {
            message: "timed out waiting for the request".into(),
        },
        Ok(Err(_)) => return,
        Ok(Ok(_)) if line.len() > MAX_REQUEST_BYTES => AdminReply::Error {
            message: "request too large".into(),
        },
        Ok(Ok(_)) => match serde_json::from_slice::<AdminRequest>(&line) {
            Ok(request) => context.execute(request).await,
            Err(e) => AdminReply::Error {
                message: format!("malformed request: {e}"),
            },
        },
    };
    let mut bytes = serde_json::to_vec(&reply).unwrap_or_else(|_| b"{\"result\":\"error\"}".to_vec());
    bytes.push(b'\n');
    let _ = write.write_all(&bytes).await;
    let _ = write.shutdown().await;
}
