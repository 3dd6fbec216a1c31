//! The high-level client: one authenticated connection plus the client state,
//! with the Parasol rules applied (subscribe from the cursor, process the
//! mailbox strictly in order then ack, retry commits and messages after
//! `stale_epoch`, top up key packages, reconnect after a server restart).
//!
//! All methods take `&mut self`: one task drives a client. Pushed envelopes
//! are only processed inside [`Client::next_event`] and while a commit or
//! message waits to catch up with the group, never behind the caller's back.

use std::time::Duration;

use parasol_protocol::{close, ErrorCode, GroupSummary, Request, Response, ServerMessage, StaffSelf};
use tokio::time::Instant;

use crate::connection::{unexpected, Authenticated, Connection, Incoming};
use crate::error::ClientError;
use crate::event::Event;
use crate::identity::{ClientId, Identity};
use crate::intake::IntakeState;
use crate::mls::CommitOp;
use crate::store::{ClientState, PendingCommitRecord};
use crate::tls::TlsTrust;

/// Tunables of a [`Client`].
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// How long to wait for the WebSocket and the challenge.
    pub connect_timeout: Duration,
    /// How long to wait for the answer to a request.
    pub request_timeout: Duration,
    /// How long to wait for the mailbox to deliver the commits a
    /// `stale_epoch` answer says exist.
    pub catch_up_timeout: Duration,
    /// Publish more one-time key packages when the server reports fewer than
    /// this many left (None: never top up automatically).
    pub key_package_low_watermark: Option<u32>,
    /// How many one-time key packages a top-up aims for.
    pub key_package_target: u32,
    /// Reconnect (inside `next_event`) when the server closed the connection
    /// for a reason other than "replaced" or a policy violation.
    pub auto_reconnect: bool,
    /// Attempts of one commit or message before giving up.
    pub max_attempts: u32,
    /// Ack at the latest after this many processed envelopes.
    pub ack_batch: u64,
    /// Carry out the intake's requests inside `next_event` and
    /// `next_notice` (add the counsellor a chat is handed to, remove the
    /// colleague one replaces, re-add a visitor who lost its state) instead
    /// of leaving them to [`Client::perform_intake_duties`]. A chat must
    /// never wait on the app noticing a push.
    pub auto_intake: bool,
    /// One-time key packages a chat request (or a resume from a new
    /// identity) carries; each acceptance or re-add uses one. The server
    /// takes 1 to `max_key_packages_per_ticket` (4 by default).
    pub ticket_key_packages: usize,
    /// The server's attestation key, pinned by the app. When set, badges
    /// are checked against it and an `intake_info` naming another key is
    /// refused; otherwise the key from `intake_info` is used.
    pub attestation_key: Option<[u8; 32]>,
    /// Certificates trusted for a `wss://` server (default: the Web PKI).
    pub tls: TlsTrust,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            catch_up_timeout: Duration::from_secs(30),
            key_package_low_watermark: Some(10),
            key_package_target: 50,
            auto_reconnect: true,
            max_attempts: 10,
            ack_batch: 64,
            auto_intake: true,
            ticket_key_packages: 2,
            attestation_key: None,
            tls: TlsTrust::default(),
        }
    }
}

/// A group as this client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInfoView {
    pub group_id: Vec<u8>,
    pub epoch: u64,
    pub members: Vec<ClientId>,
}

/// A connected Parasol client. See the module docs.
pub struct Client {
    url: String,
    pub(crate) state: ClientState,
    conn: Option<Connection>,
    config: ClientConfig,
    /// Highest seq acknowledged to the server (on this connection).
    acked: u64,
    /// Close code of the last disconnect, while disconnected.
    disconnect_code: Option<Option<u16>>,
    auth: Option<Authenticated>,
    /// Live pushes of the intake (ticket updates, offers, …), newest last.
    /// Not persisted: each is a current state the server sends again.
    notices: std::collections::VecDeque<ServerMessage>,
    /// A staff session's token, to authenticate again after a reconnect.
    /// Never printed (`Debug` leaves it out).
    staff_token: Option<String>,
    /// Who I am as staff (kept across disconnects).
    staff_self: Option<StaffSelf>,
    /// My ticket, the attestation key, and what the intake asked of me.
    pub(crate) intake: IntakeState,
}

/// Intake pushes kept at most; older ones are superseded anyway.
const MAX_NOTICES: usize = 1024;

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("url", &self.url)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Connect, authenticate and subscribe from the state's cursor, with the
    /// default configuration.
    pub async fn connect(url: &str, state: ClientState) -> Result<Client, ClientError> {
        Self::connect_with(url, state, ClientConfig::default()).await
    }

    /// Connect a client with an in-memory state and a fresh identity.
    pub async fn connect_ephemeral(url: &str) -> Result<Client, ClientError> {
        Self::connect(url, ClientState::in_memory(Identity::generate())).await
    }

    /// Connect with an explicit configuration.
    pub async fn connect_with(url: &str, state: ClientState, config: ClientConfig) -> Result<Client, ClientError> {
        Self::connect_inner(url, state, None, config).await
    }

    /// Connect as staff with the session `token` from the HTTPS login
    /// (`POST /v1/staff/login`). The state's identity becomes this staff
    /// member's MLS identity on this device; [`Client::staff`] says who the
    /// server takes me for. Tops up my key packages: colleagues' transfers
    /// and visitors' clients add me with them.
    pub async fn connect_staff(url: &str, state: ClientState, token: &str) -> Result<Client, ClientError> {
        Self::connect_staff_with(url, state, token, ClientConfig::default()).await
    }

    /// [`Client::connect_staff`] with an explicit configuration.
    pub async fn connect_staff_with(
        url: &str,
        state: ClientState,
        token: &str,
        config: ClientConfig,
    ) -> Result<Client, ClientError> {
        let mut client = Self::connect_inner(url, state, Some(token.to_string()), config).await?;
        let (one_time, last_resort) = client
            .auth
            .as_ref()
            .map(|a| (a.one_time_key_packages, a.last_resort_key_package))
            .unwrap_or_default();
        client.top_up(one_time, last_resort).await?;
        Ok(client)
    }

    async fn connect_inner(
        url: &str,
        state: ClientState,
        staff_token: Option<String>,
        config: ClientConfig,
    ) -> Result<Client, ClientError> {
        let mut client = Client {
            url: url.to_string(),
            state,
            conn: None,
            config,
            acked: 0,
            disconnect_code: None,
            notices: Default::default(),
            auth: None,
            staff_token,
            staff_self: None,
            intake: IntakeState::default(),
        };
        client.establish().await?;
        Ok(client)
    }

    async fn establish(&mut self) -> Result<(), ClientError> {
        let (mut conn, auth) = Connection::connect_as(
            &self.url,
            self.state.identity(),
            self.staff_token.as_deref(),
            &self.config.tls,
            self.config.connect_timeout,
        )
        .await?;
        if auth.staff.is_some() {
            self.staff_self = auth.staff.clone();
        }
        conn.set_request_timeout(self.config.request_timeout);
        if auth.mailbox_head < self.state.cursor {
            // The server lost mailbox state (a data directory restored from
            // an old backup, say): what it no longer has cannot be fetched,
            // and its new envelopes must not be skipped as duplicates.
            tracing::warn!("server mailbox is behind the local cursor; resynchronising to the server");
            self.state.push_event(Event::MailboxResynchronised {
                cursor: self.state.cursor,
                server_head: auth.mailbox_head,
            });
            self.state.cursor = auth.mailbox_head;
            self.state.save()?;
        }
        let cursor = self.state.cursor;
        match conn.request(Request::Subscribe { after: cursor }).await? {
            Response::Subscribed { .. } => {
                if cursor > 0 {
                    // Whatever was processed before a crash may not be acked yet.
                    conn.send_and_forget(Request::Ack { up_to: cursor })?;
                }
            }
            other => return Err(unexpected(&other)),
        }
        tracing::debug!(cursor, "connected and subscribed");
        self.acked = cursor;
        self.conn = Some(conn);
        self.disconnect_code = None;
        self.auth = Some(auth);
        for gid in self.state.mls.groups_with_pending_commit() {
            if let Err(e) = self.resolve_pending_commit(&gid).await {
                tracing::warn!(error = %e, "could not resolve a pending commit yet");
            }
        }
        Ok(())
    }

    /// Drop the connection and connect again, resubscribing from the cursor.
    pub async fn reconnect(&mut self) -> Result<(), ClientError> {
        if let Some(conn) = self.conn.take() {
            conn.close().await;
        }
        self.establish().await
    }

    /// Ack what was processed, save, and close the connection.
    pub async fn close(mut self) -> Result<(), ClientError> {
        self.flush_ack();
        let saved = self.state.save();
        if let Some(conn) = self.conn.take() {
            conn.close().await;
        }
        saved
    }

    /// Give the state back (e.g. to reconnect later), closing the connection.
    pub async fn into_state(mut self) -> Result<ClientState, ClientError> {
        self.flush_ack();
        self.state.save()?;
        if let Some(conn) = self.conn.take() {
            conn.close().await;
        }
        Ok(self.state)
    }

    // ----- accessors -----------------------------------------------------

    pub fn client_id(&self) -> ClientId {
        self.state.client_id()
    }

    pub fn identity(&self) -> &Identity {
        self.state.identity()
    }

    pub fn state(&self) -> &ClientState {
        &self.state
    }

    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// What the server said when this connection authenticated.
    pub fn authenticated(&self) -> Option<&Authenticated> {
        self.auth.as_ref()
    }

    /// For a staff session: my account, role, languages, cap and badge.
    pub fn staff(&self) -> Option<&StaffSelf> {
        self.staff_self.as_ref()
    }

    /// Last mailbox sequence number processed.
    pub fn cursor(&self) -> u64 {
        self.state.cursor
    }

    /// Ids of the groups this client is an active member of.
    pub fn groups(&self) -> Vec<Vec<u8>> {
        self.state.mls.active_groups()
    }

    /// Local view of every active group.
    pub fn group_views(&self) -> Vec<GroupInfoView> {
        self.groups()
            .into_iter()
            .filter_map(|g| {
                Some(GroupInfoView {
                    epoch: self.state.mls.epoch(&g).ok()?,
                    members: self.state.mls.members(&g).ok()?,
                    group_id: g,
                })
            })
            .collect()
    }

    pub fn epoch(&self, group: &[u8]) -> Result<u64, ClientError> {
        self.state.mls.epoch(group)
    }

    pub fn members(&self, group: &[u8]) -> Result<Vec<ClientId>, ClientError> {
        self.state.mls.members(group)
    }

    // ----- low level -----------------------------------------------------

    fn conn(&self) -> Result<&Connection, ClientError> {
        self.conn.as_ref().ok_or_else(|| ClientError::Closed {
            code: self.disconnect_code.flatten(),
            reason: "not connected".into(),
        })
    }

    /// The connection, for tests that need raw access.
    pub fn connection(&self) -> Option<&Connection> {
        self.conn.as_ref()
    }

    pub fn connection_mut(&mut self) -> Option<&mut Connection> {
        self.conn.as_mut()
    }

    /// Send any request and wait for its answer (server errors are
    /// [`ClientError::Server`]). Does not touch the client state.
    pub async fn request(&self, req: Request) -> Result<Response, ClientError> {
        self.conn()?.request(req).await
    }

    /// Send arbitrary bytes as one binary frame; the answer comes through
    /// [`Client::next_server_message`].
    pub fn send_raw_frame(&self, bytes: Vec<u8>) -> Result<(), ClientError> {
        self.conn()?.send_raw_frame(bytes)
    }

    /// The next unmatched server frame (push, error without id, answer to a
    /// raw frame) *without* processing it. Don't mix with `next_event` for
    /// envelopes you want processed.
    pub async fn next_server_message(&mut self, timeout: Duration) -> Option<Incoming> {
        self.conn.as_mut()?.next_incoming(timeout).await
    }

    // ----- key packages --------------------------------------------------

    /// Publish `count` one-time key packages (in batches of at most 100).
    /// Returns the server's stock afterwards (one-time count, last resort).
    pub async fn publish_key_packages(&mut self, count: usize) -> Result<(u32, bool), ClientError> {
        self.publish(count, false, false).await
    }

    /// Withdraw every key package published before and publish `count` new
    /// one-time ones plus a last-resort one. A client that lost its MLS state
    /// must do this first: its old packages' private keys are gone.
    pub async fn replace_key_packages(&mut self, count: usize) -> Result<(u32, bool), ClientError> {
        self.publish(count, false, true).await?;
        self.publish(1, true, false).await
    }

    /// Publish a (new) last-resort key package.
    pub async fn publish_last_resort_key_package(&mut self) -> Result<(u32, bool), ClientError> {
        self.publish(1, true, false).await
    }

    async fn publish(&mut self, count: usize, last_resort: bool, replace: bool) -> Result<(u32, bool), ClientError> {
        if count == 0 {
            return Err(ClientError::InvalidInput("publish at least one key package".into()));
        }
        let mut result = None;
        let mut left = count;
        while left > 0 {
            let n = left.min(parasol_protocol::limits::MAX_KEY_PACKAGES_PER_PUBLISH);
            let kps = self.state.mls.generate_key_packages(n, last_resort)?;
            // The private keys must be durable before the packages are public.
            self.state.save()?;
            let req = Request::PublishKeyPackages {
                key_packages: kps.into_iter().map(Into::into).collect(),
                // Only the first request replaces; later ones add to it.
                replace: replace && left == count,
            };
            match self.request(req).await? {
                Response::KeyPackagesPublished { one_time, last_resort } => result = Some((one_time, last_resort)),
                other => return Err(unexpected(&other)),
            }
            left -= n;
        }
        result.ok_or(ClientError::InvalidInput("nothing to publish".into()))
    }

    /// Claim one key package of `client_id` and verify it.
    async fn claim(&self, client_id: &ClientId) -> Result<openmls::prelude::KeyPackage, ClientError> {
        let req = Request::ClaimKeyPackage {
            client_id: client_id.to_vec().into(),
        };
        match self.request(req).await? {
            Response::KeyPackage { key_package, .. } => self.state.mls.validate_key_package(&key_package.0, client_id),
            other => Err(unexpected(&other)),
        }
    }

    pub(crate) async fn top_up(&mut self, one_time: u32, last_resort: bool) -> Result<(), ClientError> {
        let Some(low) = self.config.key_package_low_watermark else {
            return Ok(());
        };
        if one_time < low {
            let target = self
                .config
                .key_package_target
                .min(parasol_protocol::limits::MAX_KEY_PACKAGES_PER_CLIENT);
            let n = target.saturating_sub(one_time) as usize;
            if n > 0 {
                tracing::debug!(n, "topping up key packages");
                self.publish(n, false, false).await?;
            }
        }
        if !last_resort {
            self.publish(1, true, false).await?;
        }
        Ok(())
    }

    // ----- groups ----------------------------------------------------------

    /// Create a group with this client as its only member. Returns its id.
    pub async fn create_group(&mut self) -> Result<Vec<u8>, ClientError> {
        let new = self.state.mls.create_group()?;
        let gid = new.group_id;
        self.state.save()?;
        let req = Request::CreateGroup {
            group_info: new.group_info.into(),
            ratchet_tree: new.ratchet_tree.into(),
        };
        match self.request(req).await {
            Ok(Response::GroupCreated { .. }) => Ok(gid),
            Ok(other) => {
                self.state.mls.discard_group(&gid);
                self.state.save()?;
                Err(unexpected(&other))
            }
            Err(e) => {
                self.state.mls.discard_group(&gid);
                self.state.save()?;
                Err(e)
            }
        }
    }

    /// Add clients to a group: claims one key package per client and sends
    /// one commit with a Welcome. Clients already in the group are skipped.
    /// Returns the group's new epoch.
    pub async fn add_members(&mut self, group: &[u8], clients: &[ClientId]) -> Result<u64, ClientError> {
        if clients.is_empty() {
            return Err(ClientError::InvalidInput("no clients to add".into()));
        }
        if clients.contains(&self.client_id()) {
            return Err(ClientError::InvalidInput("cannot add myself".into()));
        }
        let current = self.members(group)?;
        let mut kps = Vec::new();
        let mut claimed: Vec<ClientId> = Vec::new();
        for c in clients {
            if current.contains(c) || claimed.contains(c) {
                continue;
            }
            kps.push(self.claim(c).await?);
            claimed.push(*c);
        }
        if kps.is_empty() {
            return self.epoch(group);
        }
        self.commit(group, CommitOp::Add(kps)).await
    }

    /// Remove members from a group (one commit). Returns the new epoch.
    pub async fn remove_members(&mut self, group: &[u8], clients: &[ClientId]) -> Result<u64, ClientError> {
        if clients.is_empty() {
            return Err(ClientError::InvalidInput("no clients to remove".into()));
        }
        if clients.contains(&self.client_id()) {
            return Err(ClientError::InvalidInput("cannot remove myself with a commit".into()));
        }
        let current = self.members(group)?;
        if clients.iter().any(|c| !current.contains(c)) {
            return Err(ClientError::NotAMember);
        }
        self.commit(group, CommitOp::Remove(clients.to_vec())).await
    }

    /// Re-add members whose devices lost their MLS state: claims a fresh key
    /// package of each and replaces their leaves in one commit, so they
    /// rejoin by Welcome. Returns the new epoch.
    pub async fn readd_members(&mut self, group: &[u8], clients: &[ClientId]) -> Result<u64, ClientError> {
        if clients.is_empty() || clients.contains(&self.client_id()) {
            return Err(ClientError::InvalidInput("name other members to re-add".into()));
        }
        let current = self.members(group)?;
        if clients.iter().any(|c| !current.contains(c)) {
            return Err(ClientError::NotAMember);
        }
        let mut kps = Vec::with_capacity(clients.len());
        for c in clients {
            kps.push(self.claim(c).await?);
        }
        self.commit(group, CommitOp::Readd(kps)).await
    }

    /// Refresh my leaf keys in the group (commit with an update path).
    pub async fn self_update(&mut self, group: &[u8]) -> Result<u64, ClientError> {
        self.commit(group, CommitOp::Update).await
    }

    /// Send a commit, retrying after `stale_epoch` once the winning commit
    /// has been processed.
    pub(crate) async fn commit(&mut self, group: &[u8], op: CommitOp) -> Result<u64, ClientError> {
        for attempt in 1..=self.config.max_attempts {
            if self.state.mls.has_pending_commit(group)? {
                self.resolve_pending_commit(group).await?;
            }
            let Some(bundle) = self.state.mls.build_commit(group, &op)? else {
                // Someone else already did it.
                return self.epoch(group);
            };
            self.state.pending_commits.retain(|p| p.group_id.as_slice() != group);
            self.state.pending_commits.push(PendingCommitRecord {
                group_id: group.to_vec().into(),
                epoch: bundle.epoch,
                commit: bundle.commit.clone().into(),
                welcome: bundle.welcome.clone().map(Into::into),
            });
            // Durable before it leaves: a crash now heals through the mailbox.
            self.state.save()?;
            let req = Request::SendCommit {
                commit: bundle.commit.into(),
                welcome: bundle.welcome.map(Into::into),
                group_info: bundle.group_info.map(Into::into),
                ratchet_tree: bundle.ratchet_tree.map(Into::into),
            };
            match self.request(req).await {
                Ok(Response::CommitAccepted { epoch, .. }) => {
                    let local = self.state.mls.merge_pending_commit(group)?;
                    self.forget_pending(group)?;
                    if local != epoch {
                        tracing::warn!(local, server = epoch, "epoch mismatch after commit");
                    }
                    return Ok(local);
                }
                Ok(other) => {
                    self.abandon_pending(group)?;
                    return Err(unexpected(&other));
                }
                Err(ClientError::Server {
                    code: ErrorCode::StaleEpoch,
                    current_epoch,
                    message,
                    details,
                }) => {
                    self.abandon_pending(group)?;
                    let target = current_epoch.unwrap_or(bundle.epoch + 1);
                    tracing::debug!(attempt, target, "commit lost its epoch; catching up");
                    if target <= bundle.epoch {
                        return Err(ClientError::Server {
                            code: ErrorCode::StaleEpoch,
                            message,
                            current_epoch,
                            details,
                        });
                    }
                    self.catch_up(group, target).await?;
                }
                Err(e @ ClientError::Server { .. }) => {
                    self.abandon_pending(group)?;
                    return Err(e);
                }
                // Unknown fate (connection lost, timeout): keep the pending
                // commit; it is resolved through the mailbox later.
                Err(e) => return Err(e),
            }
        }
        Err(ClientError::TooManyRetries(self.config.max_attempts))
    }

    fn forget_pending(&mut self, group: &[u8]) -> Result<(), ClientError> {
        self.state.pending_commits.retain(|p| p.group_id.as_slice() != group);
        self.state.save()
    }

    fn abandon_pending(&mut self, group: &[u8]) -> Result<(), ClientError> {
        self.state.mls.clear_pending_commit(group)?;
        self.forget_pending(group)
    }

    /// A commit was sent but its fate is unknown (crash, lost connection):
    /// process the mailbox up to the server's epoch. If my commit is there it
    /// gets merged; if the server is still at my local epoch it was never
    /// accepted and is cleared.
    async fn resolve_pending_commit(&mut self, group: &[u8]) -> Result<(), ClientError> {
        let server_epoch = self
            .list_server_groups()
            .await?
            .into_iter()
            .find(|g| g.group_id.0 == group)
            .map(|g| g.epoch);
        if let Some(target) = server_epoch {
            self.catch_up(group, target).await?;
        } else {
            // Not a member any more (or unknown): drain what is there.
            self.drain_available().await?;
        }
        if self.state.mls.has_pending_commit(group).unwrap_or(false) {
            let local = self.state.mls.epoch(group)?;
            if server_epoch.is_none_or(|s| s <= local) {
                tracing::debug!("pending commit was not accepted; clearing it");
                self.abandon_pending(group)?;
            }
        } else {
            self.forget_pending(group)?;
        }
        Ok(())
    }

    // ----- messages ------------------------------------------------------

    /// Encrypt and send a text message. After `stale_epoch` it catches up
    /// and re-encrypts. Returns the epoch it was sent in.
    pub async fn send_text(&mut self, group: &[u8], text: &str) -> Result<u64, ClientError> {
        for _ in 0..self.config.max_attempts {
            if self.state.mls.has_pending_commit(group)? {
                self.resolve_pending_commit(group).await?;
            }
            let local = self.state.mls.epoch(group)?;
            let message = self.state.mls.encrypt(group, text)?;
            // The ratchet moved: save before sending so a restart never
            // reuses a key/nonce.
            self.state.save()?;
            match self
                .request(Request::SendMessage {
                    message: message.into(),
                })
                .await
            {
                Ok(Response::MessageAccepted { epoch, .. }) => return Ok(epoch),
                Ok(other) => return Err(unexpected(&other)),
                Err(ClientError::Server {
                    code: ErrorCode::StaleEpoch,
                    current_epoch,
                    message,
                    details,
                }) => {
                    let target = current_epoch.unwrap_or(local + 1);
                    if target <= local {
                        return Err(ClientError::Server {
                            code: ErrorCode::StaleEpoch,
                            message,
                            current_epoch,
                            details,
                        });
                    }
                    self.catch_up(group, target).await?;
                }
                Err(e) => return Err(e),
            }
        }
        Err(ClientError::TooManyRetries(self.config.max_attempts))
    }

    /// Tell the group I started (`true`) or stopped writing: an ephemeral
    /// signal inside MLS that clients show for a moment and never keep.
    /// Best effort: not retried after a stale epoch.
    pub async fn send_typing(&mut self, group: &[u8], typing: bool) -> Result<(), ClientError> {
        let message = self.state.mls.encrypt_bytes(group, &crate::typing::encode(typing))?;
        self.state.save()?;
        match self
            .request(Request::SendMessage {
                message: message.into(),
            })
            .await?
        {
            Response::MessageAccepted { .. } => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    /// The server's view of my groups.
    pub async fn list_server_groups(&self) -> Result<Vec<GroupSummary>, ClientError> {
        match self.request(Request::ListGroups).await? {
            Response::Groups { groups } => Ok(groups),
            other => Err(unexpected(&other)),
        }
    }

    /// Round trip to the server.
    pub async fn ping(&self) -> Result<(), ClientError> {
        match self.request(Request::Ping).await? {
            Response::Pong => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    // ----- the mailbox ---------------------------------------------------

    /// The next event, processing pushed envelopes as they arrive. Returns
    /// `Ok(None)` if nothing happened within `timeout`. Intake pushes that
    /// arrive meanwhile wait for [`Client::next_notice`]; with
    /// `auto_intake`, what they ask of this client is done here.
    pub async fn next_event(&mut self, timeout: Duration) -> Result<Option<Event>, ClientError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(event) = self.state.take_event()? {
                return Ok(Some(event));
            }
            if self.conn.is_none() {
                if !self.ensure_connected(deadline).await? {
                    return Ok(None);
                }
                continue;
            }
            if self.config.auto_intake && self.perform_intake_duties().await > 0 {
                continue;
            }
            let now = Instant::now();
            if now >= deadline {
                self.flush_ack();
                return Ok(None);
            }
            let Some(conn) = self.conn.as_mut() else {
                continue;
            };
            match conn.next_incoming(deadline - now).await {
                Some(incoming) => {
                    if let Some(event) = self.handle_incoming(incoming, true).await? {
                        return Ok(Some(event));
                    }
                }
                None => {
                    self.flush_ack();
                    return Ok(None);
                }
            }
        }
    }

    /// The next intake push (`ticket_update`, `offer`, `offer_withdrawn`,
    /// `queue_changed`, `chat_assigned`, `readd_visitor`, `chat_ended`,
    /// `team_messages_waiting`), driving the connection like
    /// [`Client::next_event`]: envelopes that arrive meanwhile are
    /// processed and their events kept for `next_event`, and a dropped
    /// connection is re-established. With `auto_intake`, what a push asks
    /// of this client is done before the push is handed out. Returns
    /// `Ok(None)` if nothing came within `timeout`.
    pub async fn next_notice(&mut self, timeout: Duration) -> Result<Option<ServerMessage>, ClientError> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.conn.is_some() && self.config.auto_intake {
                self.perform_intake_duties().await;
            }
            if let Some(notice) = self.notices.pop_front() {
                return Ok(Some(notice));
            }
            if Instant::now() >= deadline {
                self.flush_ack();
                return Ok(None);
            }
            self.pump_once(deadline).await?;
        }
    }

    /// Handle one thing the server sends before `deadline` (reconnecting
    /// first if needed), keeping its events and notices queued. `Ok(false)`
    /// when nothing came.
    pub(crate) async fn pump_once(&mut self, deadline: Instant) -> Result<bool, ClientError> {
        if self.conn.is_none() {
            return self.ensure_connected(deadline).await;
        }
        let now = Instant::now();
        if now >= deadline {
            self.flush_ack();
            return Ok(false);
        }
        let Some(conn) = self.conn.as_mut() else {
            return Ok(false);
        };
        match conn.next_incoming(deadline - now).await {
            Some(incoming) => {
                self.handle_incoming(incoming, false).await?;
                Ok(true)
            }
            None => {
                self.flush_ack();
                Ok(false)
            }
        }
    }

    /// Wait (up to `timeout`) for one thing from the server and process
    /// it, keeping its events for `next_event` and its notices for
    /// `next_notice`; with `auto_intake`, do the intake's duties first.
    /// For callers that wait on a condition of the client's state (a
    /// group joined, a ticket closed). `Ok(false)`: nothing came.
    pub async fn poll(&mut self, timeout: Duration) -> Result<bool, ClientError> {
        let deadline = Instant::now() + timeout;
        if self.conn.is_some() && self.config.auto_intake && self.perform_intake_duties().await > 0 {
            return Ok(true);
        }
        self.pump_once(deadline).await
    }

    /// Intake pushes received and not yet taken by `next_notice`, oldest
    /// first, without waiting.
    pub fn take_notices(&mut self) -> Vec<ServerMessage> {
        self.notices.drain(..).collect()
    }

    /// Reconnect (when allowed) until connected or `deadline`. `Ok(false)`:
    /// not connected by the deadline; an error: reconnecting is not
    /// allowed (replaced, policy, normal close, staff session ended).
    async fn ensure_connected(&mut self, deadline: Instant) -> Result<bool, ClientError> {
        while self.conn.is_none() {
            let code = self.disconnect_code.flatten();
            if !self.config.auto_reconnect || !reconnectable(code) {
                return Err(ClientError::Closed {
                    code,
                    reason: "disconnected".into(),
                });
            }
            match self.establish().await {
                Ok(()) => self.state.push_event(Event::Reconnected),
                Err(e) if self.staff_token.is_some() && e.server_code() == Some(ErrorCode::AuthenticationFailed) => {
                    // The session ended while we were away (expired,
                    // revoked, account disabled): retrying cannot succeed.
                    let code = Some(close::SESSION_ENDED);
                    self.disconnect_code = Some(code);
                    return Err(ClientError::Closed {
                        code,
                        reason: "the staff session is no longer valid; log in again".into(),
                    });
                }
                Err(e) => {
                    tracing::debug!(error = %e, "reconnect failed");
                    let now = Instant::now();
                    if now >= deadline {
                        return Ok(false);
                    }
                    tokio::time::sleep((deadline - now).min(Duration::from_millis(500))).await;
                }
            }
        }
        Ok(true)
    }

    /// Process everything that has already arrived (no waiting).
    pub async fn drain_available(&mut self) -> Result<(), ClientError> {
        while let Some(incoming) = self.conn.as_mut().and_then(|c| c.try_next_incoming()) {
            self.handle_incoming(incoming, false).await?;
        }
        self.flush_ack();
        Ok(())
    }

    /// Process pushes until the group reaches `target` epoch.
    async fn catch_up(&mut self, group: &[u8], target: u64) -> Result<(), ClientError> {
        let deadline = Instant::now() + self.config.catch_up_timeout;
        loop {
            if self.state.mls.epoch(group)? >= target {
                self.flush_ack();
                return Ok(());
            }
            let conn = self.conn.as_mut().ok_or_else(|| ClientError::Closed {
                code: self.disconnect_code.flatten(),
                reason: "disconnected while catching up".into(),
            })?;
            let now = Instant::now();
            if now >= deadline {
                return Err(ClientError::Timeout("the mailbox to catch up"));
            }
            match conn.next_incoming(deadline - now).await {
                Some(incoming) => {
                    self.handle_incoming(incoming, false).await?;
                }
                None => return Err(ClientError::Timeout("the mailbox to catch up")),
            }
        }
    }

    /// Act on one thing the server sent. With `take`, an event produced by
    /// an envelope is returned instead of queued (see
    /// [`ClientState::apply_envelope_and_take`]).
    async fn handle_incoming(&mut self, incoming: Incoming, take: bool) -> Result<Option<Event>, ClientError> {
        use parasol_protocol::ServerMessage as M;
        match incoming {
            Incoming::Message(M::Envelope { envelope }) => {
                tracing::trace!(seq = envelope.seq, kind = ?envelope.kind, "envelope");
                let taken = if take {
                    self.state.apply_envelope_and_take(&envelope)?
                } else {
                    self.state.apply_envelope(&envelope)?;
                    None
                };
                self.maybe_ack();
                return Ok(taken);
            }
            Incoming::Message(M::KeyPackageCount { one_time, last_resort }) => {
                if let Err(e) = self.top_up(one_time, last_resort).await {
                    tracing::warn!(error = %e, "key package top-up failed");
                    self.state.push_event(Event::Error {
                        seq: None,
                        group_id: None,
                        code: e.server_code(),
                        message: format!("key package top-up failed: {e}"),
                    });
                }
            }
            Incoming::Message(M::Error { code, message, .. }) => {
                self.state.push_event(Event::Error {
                    seq: None,
                    group_id: None,
                    code: Some(code),
                    message,
                });
            }
            Incoming::Message(M::Response { id, .. }) => {
                tracing::debug!(id, "late answer ignored");
            }
            Incoming::Message(M::Challenge { .. }) => {}
            Incoming::Message(
                notice @ (M::TicketUpdate { .. }
                | M::Offer { .. }
                | M::OfferWithdrawn { .. }
                | M::QueueChanged { .. }
                | M::ChatAssigned { .. }
                | M::ReaddVisitor { .. }
                | M::RemoveRevokedMembers { .. }
                | M::CounsellorReconnected { .. }
                | M::ChatEnded { .. }
                | M::VisitorPresence { .. }
                | M::TeamMessagesWaiting { .. }
                | M::EscalationRaised { .. }
                | M::EscalationChanged { .. }
                | M::AddResponder { .. }
                | M::EscalationFallback { .. }
                | M::SosAlert { .. }
                | M::CircleJoinRequest { .. }
                | M::CircleMemberLeft { .. }
                | M::CircleEnded { .. }),
            ) => {
                self.note_intake_push(&notice)?;
                if self.notices.len() >= MAX_NOTICES {
                    self.notices.pop_front();
                }
                self.notices.push_back(notice);
            }
            Incoming::Undecodable(e) => {
                self.state.push_event(Event::Error {
                    seq: None,
                    group_id: None,
                    code: Some(e.code),
                    message: format!("undecodable frame from the server: {e}"),
                });
            }
            Incoming::Closed { code, reason } => {
                tracing::info!(?code, "disconnected");
                self.conn = None;
                self.auth = None;
                self.disconnect_code = Some(code);
                let reconnecting = self.config.auto_reconnect && reconnectable(code);
                tracing::debug!(reason = %reason, "close reason");
                self.state.push_event(Event::Disconnected { code, reconnecting });
            }
        }
        Ok(None)
    }

    fn maybe_ack(&mut self) {
        let cursor = self.state.cursor;
        let quiet = self.conn.as_ref().is_some_and(|c| !c.has_incoming());
        if cursor > self.acked && (quiet || cursor - self.acked >= self.config.ack_batch) {
            self.flush_ack();
        }
    }

    fn flush_ack(&mut self) {
        let cursor = self.state.cursor;
        if cursor <= self.acked {
            return;
        }
        if let Some(conn) = &self.conn {
            if conn.send_and_forget(Request::Ack { up_to: cursor }).is_ok() {
                self.acked = cursor;
            }
        }
    }
}

/// Whether to reconnect after the server closed with `code`.
fn reconnectable(code: Option<u16>) -> bool {
    // A staff session that ended needs a new login, not a retry.
    !matches!(
        code,
        Some(close::REPLACED) | Some(close::POLICY_VIOLATION) | Some(close::NORMAL) | Some(close::SESSION_ENDED)
    )
}
