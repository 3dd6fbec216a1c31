//! Golden vector for staff attestations, shared with the TypeScript client:
//! `vectors/attestation.json` holds a fixed server key, fixed inputs, the
//! exact transcript and the Ed25519 signature over it. Both languages must
//! rebuild the transcript byte for byte and accept the signature.
//!
//! Regenerate after a deliberate change with
//! `PARASOL_WRITE_VECTORS=1 cargo test -p parasol-protocol --test attestation`.

use ed25519_dalek::{Signer, SigningKey};
use parasol_protocol::{
    attestation_transcript, tagged_attestation_transcript, verify_attestation, verify_tagged_attestation, StaffRole,
};
use serde_json::{json, Value};

const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/attestation.json");

fn build() -> Value {
    let seed = [0x5e; 32];
    let server = SigningKey::from_bytes(&seed);
    let signature_key = [0xa1; 32];
    let role = StaffRole::CrisisResponder;
    // Non-ASCII on purpose: lengths are in bytes of UTF-8.
    let display_name = "Ана (she/her)";
    let expires_at = 1_795_000_000u64;
    let transcript = attestation_transcript(&signature_key, role, display_name, expires_at);
    let signature = server.sign(&transcript).to_bytes();
    // The same badge with its account tag (today's servers).
    let account_tag = [0xa7; 16];
    let tagged = tagged_attestation_transcript(&signature_key, role, display_name, expires_at, &account_tag);
    let tagged_signature = server.sign(&tagged).to_bytes();
    json!({
        "description": "Server attestation of a staff MLS signature key: Ed25519 over the transcript (PROTOCOL.md, Staff attestation). The server seed is for this vector only.",
        "server_secret_seed": hex::encode(seed),
        "server_public_key": hex::encode(server.verifying_key().to_bytes()),
        "signature_key": hex::encode(signature_key),
        "role": role.as_str(),
        "display_name": display_name,
        "expires_at": expires_at,
        "transcript": hex::encode(&transcript),
        "signature": hex::encode(signature),
        "account_tag": hex::encode(account_tag),
        "tagged_transcript": hex::encode(&tagged),
        "tagged_signature": hex::encode(tagged_signature),
    })
}

#[test]
fn attestation_vector_matches() {
    let expected = build();
    if std::env::var_os("PARASOL_WRITE_VECTORS").is_some() {
        std::fs::write(PATH, serde_json::to_string_pretty(&expected).unwrap() + "\n").unwrap();
    }
    let on_disk: Value = serde_json::from_str(&std::fs::read_to_string(PATH).unwrap()).unwrap();
    assert_eq!(
        on_disk, expected,
        "attestation.json differs from what this code produces"
    );

    let hex32 = |k: &str| -> [u8; 32] { hex::decode(on_disk[k].as_str().unwrap()).unwrap().try_into().unwrap() };
    let signature: [u8; 64] = hex::decode(on_disk["signature"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let role: StaffRole = on_disk["role"].as_str().unwrap().parse().unwrap();
    let expires_at = on_disk["expires_at"].as_u64().unwrap();
    let name = on_disk["display_name"].as_str().unwrap();
    assert!(verify_attestation(
        &hex32("server_public_key"),
        &hex32("signature_key"),
        role,
        name,
        expires_at,
        &signature,
        expires_at - 1
    ));
    assert!(!verify_attestation(
        &hex32("server_public_key"),
        &hex32("signature_key"),
        role,
        name,
        expires_at,
        &signature,
        expires_at
    ));
    let tagged_signature: [u8; 64] = hex::decode(on_disk["tagged_signature"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let tag = hex::decode(on_disk["account_tag"].as_str().unwrap()).unwrap();
    let verify_tagged = |tag: &[u8]| {
        verify_tagged_attestation(
            &hex32("server_public_key"),
            &hex32("signature_key"),
            role,
            name,
            expires_at,
            tag,
            &tagged_signature,
            expires_at - 1,
        )
    };
    assert!(verify_tagged(&tag));
    assert!(!verify_tagged(&[]), "the tag is covered");
    assert!(!verify_tagged(&[0xa8; 16]));
}
