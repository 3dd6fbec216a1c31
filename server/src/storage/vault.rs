//! The vault: the storage keys, kept in a key file apart from the data
//! directory, and the AEAD that seals stored values under them.
//!
//! Envelopes are sealed under the key of their retention period (floor of
//! arrival time / `period_secs`). Once a period is past retention its key is
//! destroyed and the key file rewritten, so whatever sled's log still holds
//! of those envelopes can no longer be opened (crypto-shredding). Long-lived
//! records (group state, key packages) are sealed under one state key that
//! lives only in the key file: seizing the data directory alone yields
//! neither.
//!
//! Sealed value: `version (1) ‖ period (u64 BE) ‖ nonce (24) ‖ ciphertext ‖
//! tag`. The AAD binds the tree name, the sled key and the header, so a
//! value cannot be moved to another key, tree or period.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use parking_lot::RwLock;
use rand::RngCore;
use zeroize::{Zeroize, Zeroizing};

use super::StorageError;

const VALUE_VERSION: u8 = 1;
const HEADER_LEN: usize = 1 + 8;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
/// The period id that names the state key.
pub const STATE_PERIOD: u64 = u64::MAX;

const FILE_MAGIC: &[u8; 8] = b"PRSLKEY1";
/// Periods kept at most; more means a misconfiguration, not a load.
const MAX_KEYS: usize = 100_000;

type Key = Zeroizing<[u8; 32]>;

/// Where the keys live and how they rotate.
#[derive(Debug, Clone)]
pub struct VaultConfig {
    /// The key file; keep it off the data directory's disk or backup.
    pub key_file: PathBuf,
    /// Length of one key period.
    pub period_secs: u64,
    /// Envelopes are kept this long; a period's key is destroyed once every
    /// envelope it could seal is older.
    pub retention_secs: u64,
}

/// What opening a sealed value gives.
#[derive(Debug)]
pub enum Unsealed {
    Open(Vec<u8>),
    /// Its period key was destroyed: the value is expired and unreadable.
    Shredded,
}

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("key file {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("key file {0} is malformed")]
    Malformed(PathBuf),
    #[error(
        "the data directory holds data but the key file {0} is missing: its contents cannot be read without it. \
         Restore the key file, or move the data directory away to start empty"
    )]
    Missing(PathBuf),
}

impl From<VaultError> for StorageError {
    fn from(e: VaultError) -> Self {
        StorageError::Vault(e.to_string())
    }
}

struct Keys {
    state: Key,
    periods: BTreeMap<u64, Key>,
    /// Every period below this one has had its key destroyed.
    destroyed_below: u64,
}

/// The keys, shared by every handle to the storage.
#[derive(Clone)]
pub struct Vault {
    config: Arc<VaultConfig>,
    /// Read on every seal and open (readers in parallel); written when a
    /// period's key is created or destroyed.
    keys: Arc<RwLock<Keys>>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> VaultError + '_ {
    move |source| VaultError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn random_key() -> Key {
    let mut key = Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(key.as_mut());
    key
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".tmp");
    PathBuf::from(name)
}

impl Vault {
    /// Open the key file, or create it when `data_is_new`. A missing key
    /// file for existing data is an error: new keys would lose everything.
    pub fn open(config: VaultConfig, data_is_new: bool) -> Result<Self, VaultError> {
        let path = config.key_file.clone();
        let tmp = tmp_path(&path);
        // A rewrite interrupted after the new file was complete: finish it.
        if let Ok(bytes) = fs::read(&tmp) {
            if decode_file(&bytes).is_some() {
                fs::rename(&tmp, &path).map_err(io(&path))?;
            } else {
                fs::remove_file(&tmp).map_err(io(&tmp))?;
            }
        }
        let keys = match File::open(&path) {
            Ok(mut file) => {
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    let mode = file.metadata().map_err(io(&path))?.permissions().mode();
                    if mode & 0o077 != 0 {
                        tracing::warn!("the storage key file is readable by others than its owner; chmod 600 it");
                    }
                }
                let mut bytes = Zeroizing::new(Vec::new());
                file.read_to_end(&mut bytes).map_err(io(&path))?;
                decode_file(&bytes).ok_or_else(|| VaultError::Malformed(path.clone()))?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if !data_is_new {
                    return Err(VaultError::Missing(path));
                }
                let keys = Keys {
                    state: random_key(),
                    periods: BTreeMap::new(),
                    destroyed_below: 0,
                };
                write_file(&path, &keys)?;
                keys
            }
            Err(e) => return Err(io(&path)(e)),
        };
        Ok(Vault {
            config: Arc::new(config),
            keys: Arc::new(RwLock::new(keys)),
        })
    }

    /// The period a moment (seconds) falls in.
    pub fn period_of(&self, secs: u64) -> u64 {
        secs / self.config.period_secs
    }

    /// Seal `plain` for `tree`/`key` under the state key.
    pub fn seal_state(&self, tree: &str, key: &[u8], plain: &[u8]) -> Result<Vec<u8>, StorageError> {
        self.seal(STATE_PERIOD, tree, key, plain)
    }

    /// Seal `plain` for `tree`/`key` under the key of the period holding
    /// `at_secs`, creating that key if needed.
    pub fn seal_at(&self, at_secs: u64, tree: &str, key: &[u8], plain: &[u8]) -> Result<Vec<u8>, StorageError> {
        self.seal(self.period_of(at_secs), tree, key, plain)
    }

    fn seal(&self, period: u64, tree: &str, key: &[u8], plain: &[u8]) -> Result<Vec<u8>, StorageError> {
        let cipher = self.cipher(period)?;
        let mut out = Vec::with_capacity(HEADER_LEN + NONCE_LEN + plain.len() + TAG_LEN);
        out.push(VALUE_VERSION);
        out.extend_from_slice(&period.to_be_bytes());
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        out.extend_from_slice(&nonce);
        let aad = aad(tree, key, &out[..HEADER_LEN]);
        let sealed = cipher
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: plain, aad: &aad })
            .map_err(|_| StorageError::Corrupt("sealing failed".into()))?;
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Open a value sealed for `tree`/`key`. A destroyed period key gives
    /// [`Unsealed::Shredded`]; a failed tag check is corruption.
    pub fn open_value(&self, tree: &str, key: &[u8], value: &[u8]) -> Result<Unsealed, StorageError> {
        if value.len() < HEADER_LEN + NONCE_LEN + TAG_LEN || value[0] != VALUE_VERSION {
            return Err(StorageError::Corrupt(format!("sealed value in {tree}")));
        }
        let period = u64::from_be_bytes(value[1..HEADER_LEN].try_into().unwrap_or_default());
        let cipher = {
            let keys = self.keys.read();
            let k = if period == STATE_PERIOD {
                Some(&keys.state)
            } else {
                keys.periods.get(&period)
            };
            match k {
                Some(k) => XChaCha20Poly1305::new(k.as_ref().into()),
                None if period < keys.destroyed_below => return Ok(Unsealed::Shredded),
                None => return Err(StorageError::Corrupt(format!("no key for a period in {tree}"))),
            }
        };
        let nonce = XNonce::from_slice(&value[HEADER_LEN..HEADER_LEN + NONCE_LEN]);
        let aad = aad(tree, key, &value[..HEADER_LEN]);
        cipher
            .decrypt(
                nonce,
                Payload {
                    msg: &value[HEADER_LEN + NONCE_LEN..],
                    aad: &aad,
                },
            )
            .map(Unsealed::Open)
            .map_err(|_| StorageError::Corrupt(format!("sealed value in {tree} fails its check")))
    }

    /// Open a value sealed under the state key (rooms' own trees).
    pub fn open_state(&self, tree: &str, key: &[u8], value: &[u8]) -> Result<Vec<u8>, StorageError> {
        match self.open_value(tree, key, value)? {
            Unsealed::Open(plain) => Ok(plain),
            Unsealed::Shredded => Err(StorageError::Corrupt(format!("{tree} value under a period key"))),
        }
    }

    /// The period a sealed value names (for the purge), without opening it.
    pub fn period_of_value(value: &[u8]) -> Option<u64> {
        value
            .get(1..HEADER_LEN)
            .map(|b| u64::from_be_bytes(b.try_into().unwrap_or_default()))
    }

    /// Whether a period's key is gone.
    pub fn is_destroyed(&self, period: u64) -> bool {
        period != STATE_PERIOD && period < self.keys.read().destroyed_below
    }

    /// Destroy the keys of every period past retention at `now_secs` and
    /// rewrite the key file without them. Returns how many were destroyed.
    /// Call only after the envelopes of those periods were deleted.
    pub fn destroy_expired(&self, now_secs: u64) -> Result<usize, StorageError> {
        // Period p's last envelope arrives before (p+1)*period and expires
        // `retention` later.
        let horizon = now_secs.saturating_sub(self.config.retention_secs) / self.config.period_secs;
        let mut keys = self.keys.write();
        if horizon <= keys.destroyed_below {
            return Ok(0);
        }
        let kept = keys.periods.split_off(&horizon);
        let destroyed = std::mem::replace(&mut keys.periods, kept);
        keys.destroyed_below = horizon;
        write_file(&self.config.key_file, &keys)?;
        Ok(destroyed.len()) // the dropped keys zero themselves
    }

    fn cipher(&self, period: u64) -> Result<XChaCha20Poly1305, StorageError> {
        {
            let keys = self.keys.read();
            if period == STATE_PERIOD {
                return Ok(XChaCha20Poly1305::new(keys.state.as_ref().into()));
            }
            if let Some(k) = keys.periods.get(&period) {
                return Ok(XChaCha20Poly1305::new(k.as_ref().into()));
            }
        }
        let mut keys = self.keys.write();
        if let Some(k) = keys.periods.get(&period) {
            return Ok(XChaCha20Poly1305::new(k.as_ref().into())); // created meanwhile
        }
        if period < keys.destroyed_below {
            // A clock set back past retention: refuse rather than reuse.
            return Err(StorageError::Corrupt("sealing under a destroyed period".into()));
        }
        if keys.periods.len() >= MAX_KEYS {
            return Err(StorageError::Corrupt("too many key periods".into()));
        }
        // Created lazily, and on disk before anything is sealed under it.
        let key = random_key();
        let cipher = XChaCha20Poly1305::new(key.as_ref().into());
        keys.periods.insert(period, key);
        if let Err(e) = write_file(&self.config.key_file, &keys) {
            // Not on disk: sealing under it would lose the value at restart.
            keys.periods.remove(&period);
            return Err(e.into());
        }
        Ok(cipher)
    }

    /// The key file served a database that held data: it holds period
    /// keys (envelopes were sealed), or the purge has destroyed some.
    pub fn has_sealed_data(&self) -> bool {
        let keys = self.keys.read();
        !keys.periods.is_empty() || keys.destroyed_below > 0
    }

    /// The key file path (for tests and operators).
    pub fn key_file(&self) -> &Path {
        &self.config.key_file
    }
}

fn aad(tree: &str, key: &[u8], header: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(2 + tree.len() + key.len() + header.len());
    aad.push(tree.len() as u8);
    aad.extend_from_slice(tree.as_bytes());
    aad.extend_from_slice(header);
    aad.extend_from_slice(key);
    aad
}

/// `magic ‖ destroyed_below (u64) ‖ state key ‖ count (u32) ‖ (period ‖ key)*`
fn encode_file(keys: &Keys) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(8 + 8 + 32 + 4 + keys.periods.len() * 40));
    out.extend_from_slice(FILE_MAGIC);
    out.extend_from_slice(&keys.destroyed_below.to_be_bytes());
    out.extend_from_slice(keys.state.as_ref());
    out.extend_from_slice(&(keys.periods.len() as u32).to_be_bytes());
    for (period, key) in &keys.periods {
        out.extend_from_slice(&period.to_be_bytes());
        out.extend_from_slice(key.as_ref());
    }
    out
}

fn decode_file(bytes: &[u8]) -> Option<Keys> {
    let rest = bytes.strip_prefix(FILE_MAGIC)?;
    let (below, rest) = rest.split_first_chunk::<8>()?;
    let (state, rest) = rest.split_first_chunk::<32>()?;
    let (count, mut rest) = rest.split_first_chunk::<4>()?;
    let count = u32::from_be_bytes(*count) as usize;
    if count > MAX_KEYS || rest.len() != count * 40 {
        return None;
    }
    let mut periods = BTreeMap::new();
    for _ in 0..count {
        let (period, r) = rest.split_first_chunk::<8>()?;
        let (key, r) = r.split_first_chunk::<32>()?;
        periods.insert(u64::from_be_bytes(*period), Zeroizing::new(*key));
        rest = r;
    }
    Some(Keys {
        state: Zeroizing::new(*state),
        periods,
        destroyed_below: u64::from_be_bytes(*below),
    })
}

/// Replace the key file: the new contents go to a temporary file (0600,
/// fsynced), the old file is overwritten with zeros in place (so destroyed
/// keys do not linger in its blocks), then the new file is renamed over it
/// and the directory fsynced. A crash in between leaves the complete
/// temporary file, which [`Vault::open`] finishes installing.
fn write_file(path: &Path, keys: &Keys) -> Result<(), VaultError> {
    let bytes = encode_file(keys);
    let tmp = tmp_path(path);
    {
        let mut file = owner_only()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(io(&tmp))?;
        file.write_all(&bytes).map_err(io(&tmp))?;
        file.sync_all().map_err(io(&tmp))?;
    }
    match OpenOptions::new().write(true).open(path) {
        Ok(mut old) => {
            let len = old.metadata().map_err(io(path))?.len() as usize;
            let mut zeros = vec![0u8; len];
            old.write_all(&zeros).map_err(io(path))?;
            old.sync_all().map_err(io(path))?;
            zeros.zeroize();
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(path)(e)),
    }
    fs::rename(&tmp, path).map_err(io(path))?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))?;
    Ok(())
}

fn owner_only() -> OpenOptions {
    #[allow(unused_mut)]
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vault(dir: &Path, period: u64, retention: u64) -> Vault {
        Vault::open(
            VaultConfig {
                key_file: dir.join("keys"),
                period_secs: period,
                retention_secs: retention,
            },
            true,
        )
        .unwrap()
    }

    fn opened(u: Unsealed) -> Vec<u8> {
        match u {
            Unsealed::Open(v) => v,
            Unsealed::Shredded => panic!("shredded"),
        }
    }

    #[test]
    fn sealed_values_open_again_and_hide_their_plaintext() {
        let dir = tempfile::tempdir().unwrap();
        let v = vault(dir.path(), 10, 10);
        let plain = b"routing metadata marker".to_vec();
        let at = v.seal_at(1234, "mailboxes", b"k1", &plain).unwrap();
        let st = v.seal_state("groups", b"g1", &plain).unwrap();
        assert!(!at.windows(plain.len()).any(|w| w == plain.as_slice()));
        assert_eq!(opened(v.open_value("mailboxes", b"k1", &at).unwrap()), plain);
        assert_eq!(opened(v.open_value("groups", b"g1", &st).unwrap()), plain);
        // The keys survive a restart.
        let again = Vault::open(v.config.as_ref().clone(), false).unwrap();
        assert_eq!(opened(again.open_value("mailboxes", b"k1", &at).unwrap()), plain);
        assert_eq!(opened(again.open_value("groups", b"g1", &st).unwrap()), plain);
    }

    #[test]
    fn a_value_moved_to_another_key_or_tree_or_altered_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let v = vault(dir.path(), 10, 10);
        let sealed = v.seal_at(5, "mailboxes", b"k1", b"x").unwrap();
        assert!(matches!(
            v.open_value("mailboxes", b"k2", &sealed),
            Err(StorageError::Corrupt(_))
        ));
        assert!(matches!(
            v.open_value("groups", b"k1", &sealed),
            Err(StorageError::Corrupt(_))
        ));
        let mut flipped = sealed.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(matches!(
            v.open_value("mailboxes", b"k1", &flipped),
            Err(StorageError::Corrupt(_))
        ));
        assert!(matches!(
            v.open_value("mailboxes", b"k1", &sealed[..10]),
            Err(StorageError::Corrupt(_))
        ));
    }

    #[test]
    fn a_destroyed_period_key_makes_its_values_shredded_and_leaves_the_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let v = vault(dir.path(), 10, 20);
        let old = v.seal_at(15, "mailboxes", b"k", b"old").unwrap(); // period 1
        let new = v.seal_at(45, "mailboxes", b"k", b"new").unwrap(); // period 4
        let old_key = *v.keys.read().periods[&1];
        assert!(contains(&fs::read(v.key_file()).unwrap(), &old_key));
        // Period 1 ends at 20; past retention at 40.
        assert_eq!(v.destroy_expired(39).unwrap(), 0);
        assert_eq!(v.destroy_expired(40).unwrap(), 1);
        assert!(matches!(
            v.open_value("mailboxes", b"k", &old).unwrap(),
            Unsealed::Shredded
        ));
        assert_eq!(opened(v.open_value("mailboxes", b"k", &new).unwrap()), b"new");
        let file = fs::read(v.key_file()).unwrap();
        assert!(!contains(&file, &old_key), "the destroyed key is still in the key file");
        assert!(!tmp_path(v.key_file()).exists());
        // Still shredded after a restart; the survivor still opens.
        let again = Vault::open(v.config.as_ref().clone(), false).unwrap();
        assert!(matches!(
            again.open_value("mailboxes", b"k", &old).unwrap(),
            Unsealed::Shredded
        ));
        assert_eq!(opened(again.open_value("mailboxes", b"k", &new).unwrap()), b"new");
    }

    #[cfg(unix)]
    #[test]
    fn the_key_file_is_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let v = vault(dir.path(), 10, 10);
        v.seal_at(1, "mailboxes", b"k", b"x").unwrap();
        let mode = fs::metadata(v.key_file()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn existing_data_without_its_key_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let config = VaultConfig {
            key_file: dir.path().join("keys"),
            period_secs: 10,
            retention_secs: 10,
        };
        assert!(matches!(Vault::open(config, false), Err(VaultError::Missing(_))));
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }
}
