//! Client state and its persistence.
//!
//! A client must survive restarts without tearing its groups: it keeps its
//! identity key, the whole openmls storage (group secrets, key package
//! private keys, pending commits), its mailbox cursor and the events it has
//! not handed out yet. [`ClientState`] holds all of that and, in file mode,
//! writes it atomically (temporary file, fsync, rename, fsync of the
//! directory) after every change and before every commit is sent. In memory
//! mode nothing is written (for benchmarks with thousands of clients).
//!
//! **The state file contains secret keys** (the identity key and all MLS
//! secrets) and undelivered plaintext messages. It is created with mode 0600.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use parasol_protocol::Envelope;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use crate::error::ClientError;
use crate::event::Event;
use crate::identity::{ClientId, Identity};
use crate::mls::MlsEngine;

/// Magic prefix of state files, followed by a MessagePack document.
const MAGIC: &[u8] = b"PARASOL-CLIENT-STATE\n";
const FORMAT_VERSION: u32 = 1;
/// Undelivered events kept at most; older ones are dropped (with a warning).
const MAX_QUEUED_EVENTS: usize = 100_000;

#[derive(Serialize, Deserialize)]
struct PersistedGroup {
    group_id: ByteBuf,
    active: bool,
}

/// A commit that was (about to be) sent and not yet resolved. Kept for
/// diagnostics and so a restarted client knows which group to reconcile; the
/// MLS pending commit itself lives in the openmls storage.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingCommitRecord {
    pub group_id: ByteBuf,
    pub epoch: u64,
    pub commit: ByteBuf,
    pub welcome: Option<ByteBuf>,
}

#[derive(Serialize, Deserialize)]
struct PersistedState {
    format: u32,
    identity: ByteBuf,
    cursor: u64,
    groups: Vec<PersistedGroup>,
    pending_commits: Vec<PendingCommitRecord>,
    events: Vec<Event>,
    mls_storage: Vec<(ByteBuf, ByteBuf)>,
    /// Digests of my sent messages not yet back from my mailbox.
    #[serde(default)]
    sent: Vec<serde_bytes::ByteArray<32>>,
}

/// Everything a client remembers. See the module docs.
pub struct ClientState {
    pub(crate) mls: MlsEngine,
    /// Last mailbox sequence number fully processed.
    pub(crate) cursor: u64,
    pub(crate) events: VecDeque<Event>,
    pub(crate) pending_commits: Vec<PendingCommitRecord>,
    path: Option<PathBuf>,
    /// Held for the lifetime of the state: one process per state file.
    _lock: Option<File>,
}

impl std::fmt::Debug for ClientState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientState")
            .field("path", &self.path)
            .field("cursor", &self.cursor)
            .field("events", &self.events.len())
            .finish_non_exhaustive()
    }
}

impl ClientState {
    /// State that lives only in memory (lost when dropped).
    pub fn in_memory(identity: Identity) -> Self {
        ClientState {
            mls: MlsEngine::new(identity),
            cursor: 0,
            events: VecDeque::new(),
            pending_commits: Vec::new(),
            path: None,
            _lock: None,
        }
    }

    /// Create a new state file with this identity. Fails if it exists.
    pub fn create(path: impl AsRef<Path>, identity: Identity) -> Result<Self, ClientError> {
        let path = path.as_ref().to_path_buf();
        if path.exists() {
            return Err(ClientError::State(format!(
                "state file {} already exists",
                path.display()
            )));
        }
        let lock = lock_file(&path)?;
        let mut state = ClientState::in_memory(identity);
        state.path = Some(path);
        state._lock = Some(lock);
        state.save()?;
        Ok(state)
    }

    /// Open an existing state file.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, ClientError> {
        let path = path.as_ref().to_path_buf();
        let lock = lock_file(&path)?;
        let bytes = fs::read(&path)
            .map_err(|e| ClientError::State(format!("cannot read state file {}: {e}", path.display())))?;
        let mut state = Self::decode(&bytes)?;
        state.path = Some(path);
        state._lock = Some(lock);
        Ok(state)
    }

    /// Open the state file, or create it with a fresh identity.
    pub fn open_or_create(path: impl AsRef<Path>) -> Result<Self, ClientError> {
        if path.as_ref().exists() {
            Self::open(path)
        } else {
            Self::create(path, Identity::generate())
        }
    }

    /// Where this state is saved (None: in memory).
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    pub fn identity(&self) -> &Identity {
        self.mls.identity()
    }

    pub fn client_id(&self) -> ClientId {
        self.mls.client_id()
    }

    /// Last mailbox sequence number processed.
    pub fn cursor(&self) -> u64 {
        self.cursor
    }

    /// The MLS engine (groups, key packages).
    pub fn mls(&self) -> &MlsEngine {
        &self.mls
    }

    pub fn mls_mut(&mut self) -> &mut MlsEngine {
        &mut self.mls
    }

    /// Apply one envelope in mailbox order: skipped if already processed
    /// (seq ≤ cursor), otherwise applied, its events queued, the cursor
    /// advanced and the state saved. Returns whether it was new.
    pub fn apply_envelope(&mut self, env: &Envelope) -> Result<bool, ClientError> {
        self.apply_envelope_inner(env, false).map(|(new, _)| new)
    }

    /// Like [`ClientState::apply_envelope`], but the oldest queued event is
    /// taken out *before* the state is saved and returned: it is handed to
    /// the caller instead of being persisted, so one save covers both the
    /// envelope and the hand-out (no redelivery after a crash).
    pub(crate) fn apply_envelope_and_take(&mut self, env: &Envelope) -> Result<Option<Event>, ClientError> {
        self.apply_envelope_inner(env, true).map(|(_, e)| e)
    }

    fn apply_envelope_inner(&mut self, env: &Envelope, take: bool) -> Result<(bool, Option<Event>), ClientError> {
        if env.seq <= self.cursor {
            return Ok((false, None));
        }
        if env.seq != self.cursor + 1 {
            tracing::warn!(
                seq = env.seq,
                cursor = self.cursor,
                "mailbox gap (envelopes were deleted before this client processed them)"
            );
        }
        let events = self.mls.apply_envelope(env);
        self.cursor = env.seq;
        for e in events {
            self.push_event(e);
        }
        let taken = if take { self.events.pop_front() } else { None };
        self.save()?;
        Ok((true, taken))
    }

    /// Hand out the oldest queued event; the shortened queue is saved so the
    /// event is not delivered again after a restart.
    pub(crate) fn take_event(&mut self) -> Result<Option<Event>, ClientError> {
        let Some(event) = self.events.pop_front() else {
            return Ok(None);
        };
        self.save()?;
        Ok(Some(event))
    }

    pub(crate) fn push_event(&mut self, event: Event) {
        if self.events.len() >= MAX_QUEUED_EVENTS {
            tracing::warn!("event queue full; dropping the oldest event");
            self.events.pop_front();
        }
        self.events.push_back(event);
    }

    /// Save now (no-op in memory mode).
    pub fn save(&self) -> Result<(), ClientError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let bytes = self.encode()?;
        write_atomic(path, &bytes)
    }

    fn encode(&self) -> Result<Vec<u8>, ClientError> {
        let state = PersistedState {
            format: FORMAT_VERSION,
            identity: ByteBuf::from(self.mls.identity().secret_bytes().to_vec()),
            cursor: self.cursor,
            groups: self
                .mls
                .group_records()
                .into_iter()
                .map(|(g, active)| PersistedGroup {
                    group_id: ByteBuf::from(g),
                    active,
                })
                .collect(),
            pending_commits: self.pending_commits.clone(),
            events: self.events.iter().cloned().collect(),
            mls_storage: self
                .mls
                .storage_snapshot()?
                .into_iter()
                .map(|(k, v)| (ByteBuf::from(k), ByteBuf::from(v)))
                .collect(),
            sent: self
                .mls
                .sent_digests()
                .into_iter()
                .map(serde_bytes::ByteArray::new)
                .collect(),
        };
        let mut out = MAGIC.to_vec();
        rmp_serde::encode::write_named(&mut out, &state)
            .map_err(|e| ClientError::State(format!("encode state: {e}")))?;
        Ok(out)
    }

    fn decode(bytes: &[u8]) -> Result<Self, ClientError> {
        let body = bytes
            .strip_prefix(MAGIC)
            .ok_or_else(|| ClientError::State("not a Parasol client state file".into()))?;
        let state: PersistedState =
            rmp_serde::from_slice(body).map_err(|e| ClientError::State(format!("corrupt state file: {e}")))?;
        if state.format != FORMAT_VERSION {
            return Err(ClientError::State(format!("unsupported state format {}", state.format)));
        }
        let identity = Identity::from_bytes(&state.identity)?;
        let mut mls = MlsEngine::restore(
            identity,
            state
                .mls_storage
                .into_iter()
                .map(|(k, v)| (k.into_vec(), v.into_vec()))
                .collect(),
            state
                .groups
                .into_iter()
                .map(|g| (g.group_id.into_vec(), g.active))
                .collect(),
        )?;
        mls.restore_sent_digests(state.sent.into_iter().map(|d| d.into_array()).collect());
        Ok(ClientState {
            mls,
            cursor: state.cursor,
            events: state.events.into(),
            pending_commits: state.pending_commits,
            path: None,
            _lock: None,
        })
    }
}

/// Take an exclusive lock on `<path>.lock`, so two processes never write the
/// same state file.
fn lock_file(path: &Path) -> Result<File, ClientError> {
    let mut lock_path = path.as_os_str().to_owned();
    lock_path.push(".lock");
    let mut opts = OpenOptions::new();
    opts.create(true).truncate(false).write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let file = opts
        .open(&lock_path)
        .map_err(|e| ClientError::State(format!("cannot open lock file for {}: {e}", path.display())))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(ClientError::State(format!(
            "state file {} is in use by another process",
            path.display()
        ))),
        Err(fs::TryLockError::Error(e)) => Err(ClientError::Io(e)),
    }
}

/// Write `bytes` to `path` atomically and durably, with mode 0600.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ClientError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let mut opts = OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let result = (|| -> std::io::Result<()> {
        let mut f = opts.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        #[cfg(unix)]
        File::open(&dir)?.sync_all()?;
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(|e| ClientError::State(format!("cannot save state to {}: {e}", dir.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_load_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("client.state");
        let id = Identity::generate();
        let client_id = id.client_id();
        let (gid, kp_count) = {
            let mut state = ClientState::create(&path, id).unwrap();
            let kps = state.mls_mut().generate_key_packages(3, false).unwrap();
            let gid = state.mls_mut().create_group().unwrap().group_id;
            state.cursor = 42;
            state.push_event(Event::Reconnected);
            state.save().unwrap();
            (gid, kps.len())
        };
        assert_eq!(kp_count, 3);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let state = ClientState::open(&path).unwrap();
        assert_eq!(state.client_id(), client_id);
        assert_eq!(state.cursor(), 42);
        assert_eq!(state.events.len(), 1);
        assert_eq!(state.mls().active_groups(), vec![gid.clone()]);
        assert_eq!(state.mls().epoch(&gid).unwrap(), 0);
        assert_eq!(state.mls().members(&gid).unwrap(), vec![client_id]);
    }

    #[test]
    fn second_open_is_refused_while_locked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("client.state");
        let _state = ClientState::create(&path, Identity::generate()).unwrap();
        assert!(matches!(ClientState::open(&path), Err(ClientError::State(_))));
        assert!(ClientState::create(&path, Identity::generate()).is_err());
    }

    #[test]
    fn garbage_state_file_is_a_typed_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("client.state");
        fs::write(&path, b"hello").unwrap();
        assert!(matches!(ClientState::open(&path), Err(ClientError::State(_))));
        let mut bad = MAGIC.to_vec();
        bad.extend_from_slice(&[0xc1, 0x00]);
        fs::write(&path, bad).unwrap();
        assert!(matches!(ClientState::open(&path), Err(ClientError::State(_))));
    }
}
