// A responder's console shows an escalation as verified only when the
// counsellor's badge verifies and the request is signed by that badge's key;
// a responder is added only with a verified crisis_responder badge.

import { ed25519 } from "@noble/curves/ed25519.js";
import { describe, expect, it } from "vitest";

import { type EscalationEntry, type StaffBadge, type StaffRole, attestationTranscript, signEscalation } from "../protocol";
import { checkEscalation, escalationStatusText, responderKey } from "./escalations";

const serverSecret = ed25519.utils.randomSecretKey();
const serverKey = ed25519.getPublicKey(serverSecret);
const NOW = 1_800_000_000;
const groupId = new Uint8Array(16).fill(7);

function badge(key: Uint8Array, role: StaffRole, name = "Ana", secret = serverSecret): StaffBadge {
  const expires = NOW + 3600;
  return {
    display_name: name,
    role,
    signature_key: key,
    expires_at: expires,
    attestation: ed25519.sign(attestationTranscript(key, role, name, expires), secret),
  };
}

const counsellorSecret = ed25519.utils.randomSecretKey();
const counsellorKey = ed25519.getPublicKey(counsellorSecret);

function entry(patch: Partial<EscalationEntry> = {}): EscalationEntry {
  return {
    escalation_id: 42,
    status: "open",
    request: signEscalation(counsellorSecret, groupId, "critical", "trafficking", NOW),
    language: "mk",
    counsellor: badge(counsellorKey, "counsellor"),
    waited_secs: 5,
    ...patch,
  };
}

describe("escalations in a responder's queue", () => {
  it("verifies a request signed by the counsellor's badge key", () => {
    expect(checkEscalation(entry(), serverKey, NOW)).toBe("verified");
  });

  it("refuses a request signed by another key, or changed after signing", () => {
    const stranger = ed25519.utils.randomSecretKey();
    expect(checkEscalation(entry({ request: signEscalation(stranger, groupId, "critical", "trafficking", NOW) }), serverKey, NOW)).toBe(
      "bad_signature",
    );
    const changed = { ...entry().request, severity: "high" as const };
    expect(checkEscalation(entry({ request: changed }), serverKey, NOW)).toBe("bad_signature");
  });

  it("refuses a counsellor badge that does not verify or is a responder's", () => {
    expect(checkEscalation(entry({ counsellor: badge(counsellorKey, "counsellor", "Ana", ed25519.utils.randomSecretKey()) }), serverKey, NOW)).toBe(
      "unknown_counsellor",
    );
    expect(checkEscalation(entry({ counsellor: badge(counsellorKey, "crisis_responder") }), serverKey, NOW)).toBe("unknown_counsellor");
    expect(checkEscalation(entry(), undefined, NOW)).toBe("unknown_counsellor");
  });

  it("adds only a verified crisis responder", () => {
    const key = ed25519.getPublicKey(ed25519.utils.randomSecretKey());
    expect(responderKey(badge(key, "crisis_responder", "Rina"), serverKey, NOW)).toEqual(key);
    expect(responderKey(badge(key, "counsellor", "Rina"), serverKey, NOW)).toBeUndefined();
    expect(responderKey(badge(key, "crisis_responder", "Rina", ed25519.utils.randomSecretKey()), serverKey, NOW)).toBeUndefined();
  });

  it("says the state in words", () => {
    const rina = badge(ed25519.getPublicKey(ed25519.utils.randomSecretKey()), "crisis_responder", "Rina");
    expect(escalationStatusText(entry())).toMatch(/open.*Critical · Trafficking.*waiting/);
    expect(escalationStatusText(entry({ status: "accepted", responder: rina }))).toMatch(/accepted by Rina/);
    expect(escalationStatusText(entry({ status: "handed_off", responder: rina }))).toMatch(/handed off to Rina/);
  });
});
