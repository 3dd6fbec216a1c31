// Deciding "a crisis counsellor has joined" from a member key the MLS
// commit added and the ticket's `in_chat.responders`.

import { ed25519 } from "@noble/curves/ed25519.js";
import { describe, expect, it } from "vitest";

import { type StaffBadge, type StaffRole, attestationTranscript } from "../protocol";
import { crisisResponderFor } from "./crisis";

const serverSecret = ed25519.utils.randomSecretKey();
const serverKey = ed25519.getPublicKey(serverSecret);
const NOW = 1_800_000_000;

function badge(key: Uint8Array, role: StaffRole, secret = serverSecret, expiresAt = NOW + 3600): StaffBadge {
  return {
    display_name: "Responder",
    role,
    signature_key: key,
    expires_at: expiresAt,
    attestation: ed25519.sign(attestationTranscript(key, role, "Responder", expiresAt), secret),
  };
}

const member = ed25519.getPublicKey(ed25519.utils.randomSecretKey());
const other = ed25519.getPublicKey(ed25519.utils.randomSecretKey());

describe("crisis responder joining the visitor's chat", () => {
  it("is the responder when a verified crisis_responder badge names the added key", () => {
    const b = badge(member, "crisis_responder");
    expect(crisisResponderFor(member, [badge(other, "crisis_responder"), b], serverKey, NOW)).toBe(b);
  });

  it("stays unverified without responders, or for another key", () => {
    expect(crisisResponderFor(member, undefined, serverKey, NOW)).toBeUndefined();
    expect(crisisResponderFor(member, [badge(other, "crisis_responder")], serverKey, NOW)).toBeUndefined();
  });

  it("refuses a badge with another role, a forged attestation, an expired badge, or no attestation key", () => {
    expect(crisisResponderFor(member, [badge(member, "counsellor")], serverKey, NOW)).toBeUndefined();
    expect(crisisResponderFor(member, [badge(member, "crisis_responder", ed25519.utils.randomSecretKey())], serverKey, NOW)).toBeUndefined();
    expect(crisisResponderFor(member, [badge(member, "crisis_responder", serverSecret, NOW - 1)], serverKey, NOW)).toBeUndefined();
    expect(crisisResponderFor(member, [badge(member, "crisis_responder")], undefined, NOW)).toBeUndefined();
  });
});
