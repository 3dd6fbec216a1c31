//! The server's attestation key: it signs statements binding a staff
//! member's MLS signature key to their role and display name
//! (`parasol_protocol::staff`). The key lives in `<data_dir>/attestation.key`
//! (the 32-byte Ed25519 seed, mode 0600), created on first start.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use ed25519_dalek::{Signer, SigningKey};
use hmac::Mac as _;
use parasol_protocol::{tagged_attestation_transcript, StaffRole};

/// Bytes of a badge's account tag.
pub const ACCOUNT_TAG_LEN: usize = 16;

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

    /// The account's opaque tag on its badges: HMAC-SHA-256 under the
    /// attestation secret of a label and the account id, truncated. The
    /// same for every key of the account; it does not reveal the id.
    pub fn account_tag(&self, account_id: u64) -> [u8; ACCOUNT_TAG_LEN] {
        let mut mac =
            hmac::Hmac::<sha2::Sha256>::new_from_slice(self.key.as_bytes()).expect("HMAC takes any key length");
        mac.update(b"parasol/v1/account-tag");
        mac.update(&account_id.to_be_bytes());
        let full = mac.finalize().into_bytes();
        let mut tag = [0; ACCOUNT_TAG_LEN];
        tag.copy_from_slice(&full[..ACCOUNT_TAG_LEN]);
        tag
    }

    /// Sign that `signature_key` belongs to a staff member with this role,
    /// display name and account tag until `expires_at` (Unix seconds).
    pub fn attest(
        &self,
        signature_key: &[u8; 32],
        role: StaffRole,
        display_name: &str,
        expires_at: u64,
        account_tag: &[u8],
    ) -> [u8; 64] {
        self.key
            .sign(&tagged_attestation_transcript(
                signature_key,
                role,
                display_name,
                expires_at,
                account_tag,
            ))
            .to_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parasol_protocol::{verify_attestation, verify_tagged_attestation};

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
        let sig = a.attest(&[3; 32], StaffRole::Counsellor, "Ana", 100, &[]);
        assert!(verify_attestation(
            &b.public_key(),
            &[3; 32],
            StaffRole::Counsellor,
            "Ana",
            100,
            &sig,
            50
        ));
        // Tagged: the tag is the account's, stable, and covered.
        let tag = a.account_tag(7);
        assert_eq!(tag, b.account_tag(7));
        assert_ne!(tag, a.account_tag(8));
        let sig = a.attest(&[3; 32], StaffRole::Counsellor, "Ana", 100, &tag);
        let verify = |tag: &[u8]| {
            verify_tagged_attestation(
                &b.public_key(),
                &[3; 32],
                StaffRole::Counsellor,
                "Ana",
                100,
                tag,
                &sig,
                50,
            )
        };
        assert!(verify(&tag));
        assert!(!verify(&a.account_tag(8)));
        assert!(!verify(&[]));
        std::fs::write(dir.path().join(KEY_FILE), b"short").unwrap();
        assert!(matches!(Attestor::open(dir.path()), Err(AttestorError::Malformed(_))));
    }
}
