//! The identity rule that makes routing trustworthy: a leaf's BasicCredential
//! identity must equal its 32-byte Ed25519 signature key, which is the
//! client's id. Nobody can then put a leaf in a group that routes to a
//! client whose private key they do not hold.

use openmls::prelude::{BasicCredential, Credential, LeafNode};

use crate::storage::ClientId;

pub fn client_id_of(credential: &Credential, signature_key: &[u8]) -> Result<ClientId, &'static str> {
    let basic = BasicCredential::try_from(credential.clone()).map_err(|_| "credential is not a basic credential")?;
    if basic.identity() != signature_key {
        return Err("credential identity must equal the leaf's signature key");
    }
    signature_key
        .try_into()
        .map_err(|_| "signature key must be a 32-byte Ed25519 key")
}

pub fn client_id_of_leaf(leaf: &LeafNode) -> Result<ClientId, &'static str> {
    client_id_of(leaf.credential(), leaf.signature_key().as_slice())
}
