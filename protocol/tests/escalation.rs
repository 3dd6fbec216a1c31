//! Golden vector for a counsellor's signed escalation, shared with the
//! TypeScript client: `vectors/escalation.json` holds a fixed session key,
//! fixed inputs, the exact transcript and the Ed25519 signature. Both
//! languages must rebuild the transcript byte for byte, produce the same
//! signature (Ed25519 is deterministic) and accept it.
//!
//! Regenerate after a deliberate change with
//! `PARASOL_WRITE_VECTORS=1 cargo test -p parasol-protocol --test escalation`.

use ed25519_dalek::{Signer, SigningKey};
use parasol_protocol::{escalation_transcript, Bytes, Category, Severity, SignedEscalation};
use serde_json::{json, Value};

const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/escalation.json");

fn build() -> Value {
    let seed = [0x3c; 32];
    let session = SigningKey::from_bytes(&seed);
    let group_id = [0x6b; 16];
    let (severity, category, issued_at) = (Severity::Critical, Category::SuicideRisk, 1_795_000_100u64);
    let transcript = escalation_transcript(&group_id, severity, category, issued_at);
    let signature = session.sign(&transcript).to_bytes();
    json!({
        "description": "A counsellor's escalation request: Ed25519 by the session key over the transcript (PROTOCOL.md, Escalation). The seed is for this vector only.",
        "session_secret_seed": hex::encode(seed),
        "session_public_key": hex::encode(session.verifying_key().to_bytes()),
        "group_id": hex::encode(group_id),
        "severity": severity.as_str(),
        "category": category.as_str(),
        "issued_at": issued_at,
        "transcript": hex::encode(&transcript),
        "signature": hex::encode(signature),
    })
}

#[test]
fn escalation_vector_matches() {
    let expected = build();
    if std::env::var_os("PARASOL_WRITE_VECTORS").is_some() {
        std::fs::write(PATH, serde_json::to_string_pretty(&expected).unwrap() + "\n").unwrap();
    }
    let on_disk: Value = serde_json::from_str(&std::fs::read_to_string(PATH).unwrap()).unwrap();
    assert_eq!(
        on_disk, expected,
        "escalation.json differs from what this code produces"
    );
    let hex = |k: &str| hex::decode(on_disk[k].as_str().unwrap()).unwrap();
    let signed = SignedEscalation {
        group_id: Bytes(hex("group_id")),
        severity: Severity::Critical,
        category: Category::SuicideRisk,
        issued_at: on_disk["issued_at"].as_u64().unwrap(),
        signature: Bytes(hex("signature")),
    };
    assert!(signed.verify(&hex("session_public_key")));
    let mut other = signed.clone();
    other.category = Category::Medical;
    assert!(!other.verify(&hex("session_public_key")));
}
