//! A client's identity: exactly one Ed25519 key. The client id is its 32-byte
//! public key; the same key authenticates WebSocket connections (challenge
//! signature) and is the MLS leaf signature key, with a BasicCredential whose
//! identity is the public key. Keeping all three the same is what lets the
//! server and the other members bind "who sent this" to "who is connected".

use ed25519_dalek::{Signer as _, SigningKey};
use openmls::prelude::{BasicCredential, CredentialWithKey, SignatureScheme};
use openmls_basic_credential::SignatureKeyPair;
use parasol_protocol::auth::auth_transcript;

use crate::error::ClientError;

/// A client id: the client's Ed25519 public key.
pub type ClientId = [u8; 32];

/// The client's long-term Ed25519 key. `Debug` never prints the secret.
#[derive(Clone)]
pub struct Identity {
    key: SigningKey,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Identity(..)")
    }
}

impl Identity {
    /// A fresh random identity (OS randomness).
    pub fn generate() -> Self {
        Identity {
            key: SigningKey::generate(&mut rand::rngs::OsRng),
        }
    }

    /// Restore an identity from its 32-byte secret key (seed).
    pub fn from_bytes(secret: &[u8]) -> Result<Self, ClientError> {
        let seed: [u8; 32] = secret
            .try_into()
            .map_err(|_| ClientError::InvalidInput("identity secret must be 32 bytes".into()))?;
        Ok(Identity {
            key: SigningKey::from_bytes(&seed),
        })
    }

    /// The 32-byte secret key (seed). Handle with care.
    pub fn secret_bytes(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// This client's id (its public key).
    pub fn client_id(&self) -> ClientId {
        self.key.verifying_key().to_bytes()
    }

    /// Sign the server's authentication challenge.
    pub fn sign_challenge(&self, nonce: &[u8]) -> [u8; 64] {
        let transcript = auth_transcript(nonce, &self.client_id());
        self.key.sign(&transcript).to_bytes()
    }

    /// Sign an escalation request (a control message outside MLS).
    pub fn sign_escalation(
        &self,
        group_id: &[u8],
        severity: parasol_protocol::Severity,
        category: parasol_protocol::Category,
        issued_at: u64,
    ) -> [u8; 64] {
        let transcript = parasol_protocol::escalation_transcript(group_id, severity, category, issued_at);
        self.key.sign(&transcript).to_bytes()
    }

    /// The same key as an openmls signer. openmls_basic_credential expects the
    /// 32-byte Ed25519 seed as private key and the 32-byte public key.
    pub fn mls_signer(&self) -> SignatureKeyPair {
        SignatureKeyPair::from_raw(
            SignatureScheme::ED25519,
            self.key.to_bytes().to_vec(),
            self.client_id().to_vec(),
        )
    }

    /// The MLS credential: BasicCredential(identity = public key) bound to the
    /// same public key as leaf signature key.
    pub fn credential_with_key(&self) -> CredentialWithKey {
        let id = self.client_id();
        CredentialWithKey {
            credential: BasicCredential::new(id.to_vec()).into(),
            signature_key: id.to_vec().into(),
        }
    }
}

/// Parse a client id from hex (64 hex digits).
pub fn parse_client_id(hex_str: &str) -> Result<ClientId, ClientError> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_str.trim(), &mut out)
        .map_err(|_| ClientError::InvalidInput("a client id is 64 hex digits".into()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signature, Verifier, VerifyingKey};
    use openmls_traits::signatures::Signer as _;

    #[test]
    fn round_trip_and_client_id() {
        let id = Identity::generate();
        let restored = Identity::from_bytes(&id.secret_bytes()).unwrap();
        assert_eq!(id.client_id(), restored.client_id());
        assert!(Identity::from_bytes(&[0; 31]).is_err());
        assert_eq!(format!("{id:?}"), "Identity(..)");
    }

    #[test]
    fn openmls_signature_verifies_with_dalek_key() {
        let id = Identity::generate();
        let signer = id.mls_signer();
        assert_eq!(signer.public(), &id.client_id());
        let sig = signer.sign(b"payload").unwrap();
        let vk = VerifyingKey::from_bytes(&id.client_id()).unwrap();
        let sig = Signature::from_slice(&sig).unwrap();
        vk.verify(b"payload", &sig).unwrap();
    }

    #[test]
    fn challenge_signature_verifies() {
        let id = Identity::generate();
        let nonce = [7u8; 32];
        let sig = id.sign_challenge(&nonce);
        let vk = VerifyingKey::from_bytes(&id.client_id()).unwrap();
        vk.verify(&auth_transcript(&nonce, &id.client_id()), &Signature::from_bytes(&sig))
            .unwrap();
    }

    #[test]
    fn credential_identity_is_public_key() {
        let id = Identity::generate();
        let cwk = id.credential_with_key();
        let basic = BasicCredential::try_from(cwk.credential).unwrap();
        assert_eq!(basic.identity(), &id.client_id());
        assert_eq!(cwk.signature_key.as_slice(), &id.client_id());
    }

    #[test]
    fn parse_ids() {
        let id = Identity::generate().client_id();
        assert_eq!(parse_client_id(&hex::encode(id)).unwrap(), id);
        assert!(parse_client_id("abcd").is_err());
    }
}
