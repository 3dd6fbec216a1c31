//! The server's attestation key: it signs statements binding a staff
//! member's MLS signature key to their role and display name
//! (`parasol_protocol::staff`). The key lives in `<data_dir>/attestation.key`
//! (the 32-byte Ed25519 seed, mode 0600), created on first start.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use ed25519_dalek::{Signer, SigningKey};
use parasol_protocol::{attestation_transcript, StaffRole};

pub const KEY_FILE: &str = "attestation.key";

#[derive(Debug, thiserror::Error)]
pub enum AttestorError {
    #[error("cannot read or write the attestation key {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("the attestation key file {0} is not a 32-byte key")]
    Malformed(PathBuf),
}

pub struct Attestor {
    key: SigningKey,
}

impl Attestor {
    /// Load `<data_dir>/attestation.key`, or create it (atomically: a
    /// temporary file, synced, then renamed).
    pub fn open(data_dir: &Path) -> Result<Self, AttestorError> {
        let path = data_dir.join(KEY_FILE);
        let io = |source| AttestorError::Io {
            path: path.clone(),
            source,
        };
        match std::fs::read(&path) {
            Ok(bytes) => {
                let seed: [u8; 32] = bytes.try_into().map_err(|_| AttestorError::Malformed(path.clone()))?;
                return Ok(Attestor {
                    key: SigningKey::from_bytes(&seed),
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(e)),
        }
        std::fs::create_dir_all(data_dir).map_err(io)?;
        let key = SigningKey::generate(&mut rand::rngs::OsRng);
        let tmp = data_dir.join(format!("{KEY_FILE}.tmp"));
        let _ = std::fs::remove_file(&tmp);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&tmp).map_err(io)?;
        file.write_all(key.as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)?;
        drop(file);
        std::fs::rename(&tmp, &path).map_err(io)?;
        if let Ok(dir) = std::fs::File::open(data_dir) {
            let _ = dir.sync_all();
        }
        tracing::info!("created a new attestation key");
        Ok(Attestor { key })
    }

    /// The public key clients verify attestations with.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// Sign that `signature_key` belongs to a staff member with this role
    /// and display name until `expires_at` (Unix seconds).
    pub fn attest(&self, signature_key: &[u8; 32], role: StaffRole, display_name: &str, expires_at: u64) -> [u8; 64] {
        self.key
            .sign(&attestation_transcript(signature_key, role, display_name, expires_at))
            .to_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parasol_protocol::verify_attestation;

    #[test]
    fn the_key_is_created_once_private_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let a = Attestor::open(dir.path()).unwrap();
        let b = Attestor::open(dir.path()).unwrap();
        assert_eq!(a.public_key(), b.public_key());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let sig = a.attest(&[3; 32], StaffRole::Counsellor, "Ana", 100);
        assert!(verify_attestation(
            &b.public_key(),
            &[3; 32],
            StaffRole::Counsellor,
            "Ana",
            100,
            &sig,
            50
        ));
        std::fs::write(dir.path().join(KEY_FILE), b"short").unwrap();
        assert!(matches!(Attestor::open(dir.path()), Err(AttestorError::Malformed(_))));
    }
}
