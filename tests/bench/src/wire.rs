//! Raw WebSocket clients for the hot loops: small buffers (so 50k idle
//! clients fit), an optional source address (one source IP has only ~28k
//! ephemeral ports), an optional `x-forwarded-for` (the generator plays the
//! reverse proxy for the intake flood), and Parasol's authentication.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use futures_util::{SinkExt, StreamExt};
use parasol_client::Identity;
use parasol_protocol::{
    decode_server_frame, encode_client_frame, AuthProof, ClientFrame, Request, Response, ServerFrame, ServerMessage,
    PROTOCOL_VERSION,
};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

pub type Ws = WebSocketStream<TcpStream>;

/// How long one setup step may take before the scenario gives up.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(60);

/// The `n`-th client's source address: 10k clients per loopback address.
pub fn source_ip(n: usize) -> IpAddr {
    let host = 2 + (n / 10_000) as u8;
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, host))
}

/// Let the kernel choose the source port at `connect`, by the whole
/// address pair, not at `bind`: binding thousands of sockets to one address
/// with port 0 makes the kernel search its port table on every bind (with
/// the previous run's TIME_WAIT ports in it), which cost the generator most
/// of both cores at the start of a reconnect storm.
///
/// The one `unsafe` block in the workspace: neither rustix nor socket2 wraps
/// IP_BIND_ADDRESS_NO_PORT, and this load generator is never deployed.
#[allow(unsafe_code)]
fn bind_address_no_port(socket: &TcpSocket) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let on: libc::c_int = 1;
    // SAFETY: a valid socket descriptor and a c_int option of its size.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Open a WebSocket to `url` from `source` (port chosen by the kernel).
pub async fn connect(url: &str, source: Option<IpAddr>, forwarded_for: Option<IpAddr>) -> anyhow::Result<Ws> {
    connect_with(url, source, forwarded_for, None).await
}

/// [`connect`], with the socket's kernel receive buffer set to
/// `recv_buffer` bytes (a client that wants the server to hold its data
/// keeps it small).
pub async fn connect_with(
    url: &str,
    source: Option<IpAddr>,
    forwarded_for: Option<IpAddr>,
    recv_buffer: Option<u32>,
) -> anyhow::Result<Ws> {
    let mut request = url.into_client_request()?;
    if let Some(ip) = forwarded_for {
        request.headers_mut().insert(
            "x-forwarded-for",
            ip.to_string().parse().expect("an IP is a header value"),
        );
    }
    let host = request
        .uri()
        .authority()
        .context("URL has a host")?
        .as_str()
        .to_string();
    let addr: SocketAddr = host.parse().context("URL host must be an IP address and port")?;
    let socket = TcpSocket::new_v4()?;
    if let Some(bytes) = recv_buffer {
        socket.set_recv_buffer_size(bytes)?;
    }
    if let Some(ip) = source {
        bind_address_no_port(&socket)?;
        socket.bind(SocketAddr::new(ip, 0))?;
    }
    let stream = socket.connect(addr).await?;
    stream.set_nodelay(true)?;
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_write_buffer_size(1 << 20);
    let (ws, _) = tokio_tungstenite::client_async_with_config(request, stream, Some(config)).await?;
    Ok(ws)
}

pub fn frame_bytes(id: u64, req: Request) -> Vec<u8> {
    encode_client_frame(&ClientFrame {
        v: PROTOCOL_VERSION,
        id,
        req,
    })
}

pub async fn send(ws: &mut Ws, id: u64, req: Request) -> anyhow::Result<()> {
    ws.send(Message::Binary(frame_bytes(id, req).into())).await?;
    Ok(())
}

/// The next server frame (pings and pongs skipped).
pub async fn next_message(ws: &mut Ws) -> anyhow::Result<ServerMessage> {
    loop {
        let msg = tokio::time::timeout(STEP_TIMEOUT, ws.next())
            .await
            .map_err(|_| anyhow!("no answer from the server"))?
            .ok_or_else(|| anyhow!("connection closed"))??;
        match msg {
            Message::Binary(bytes) => return Ok(decode(&bytes)?.msg),
            Message::Close(c) => bail!("connection closed: {c:?}"),
            _ => continue,
        }
    }
}

pub fn decode(bytes: &[u8]) -> anyhow::Result<ServerFrame> {
    decode_server_frame(bytes).map_err(|e| anyhow!("bad server frame: {}", e.message))
}

/// Send a request and wait for its answer; pushes that come first are
/// skipped (setup runs before subscribing, so there are none that matter).
pub async fn request(ws: &mut Ws, id: u64, req: Request) -> anyhow::Result<Response> {
    send(ws, id, req).await?;
    loop {
        match next_message(ws).await? {
            ServerMessage::Response { id: got, result } if got == id => return Ok(result),
            ServerMessage::Error {
                id: Some(got),
                code,
                message,
                ..
            } if got == id => bail!("server refused request {id}: {code:?}: {message}"),
            _ => continue,
        }
    }
}

/// Answer the challenge with the identity's signature. Returns the mailbox
/// head.
pub async fn authenticate(ws: &mut Ws, identity: &Identity) -> anyhow::Result<u64> {
    let nonce = match next_message(ws).await? {
        ServerMessage::Challenge { nonce, .. } => nonce,
        other => bail!("expected a challenge, got {}", other.type_name()),
    };
    let proof = AuthProof::Ed25519Challenge {
        public_key: identity.client_id().to_vec().into(),
        signature: identity.sign_challenge(&nonce.0).to_vec().into(),
    };
    match request(ws, 1, Request::Authenticate { proof }).await? {
        Response::Authenticated { mailbox_head, .. } => Ok(mailbox_head),
        other => bail!("expected authenticated, got {other:?}"),
    }
}

/// Connect, authenticate and subscribe from the mailbox head (or from
/// `after`). Returns the head.
pub async fn parasol_session(
    url: &str,
    identity: &Identity,
    source: Option<IpAddr>,
    after: Option<u64>,
) -> anyhow::Result<(Ws, u64)> {
    let mut ws = connect(url, source, None).await?;
    let head = authenticate(&mut ws, identity).await?;
    match request(
        &mut ws,
        2,
        Request::Subscribe {
            after: after.unwrap_or(head),
        },
    )
    .await?
    {
        Response::Subscribed { head } => Ok((ws, head)),
        other => bail!("expected subscribed, got {other:?}"),
    }
}
