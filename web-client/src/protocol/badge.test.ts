// The badge check against the shared attestation vector
// (protocol/tests/vectors/attestation.json), which Rust checks too.

import { readFileSync } from "node:fs";
import { ed25519 } from "@noble/curves/ed25519.js";
import { describe, expect, it } from "vitest";

import { fromHex, toHex } from "../testing/hex";
import { attestationTranscript, verifyBadge } from "./badge";
import type { StaffBadge, StaffRole } from "./generated/types";

const vector = JSON.parse(
  readFileSync(new URL("../../../protocol/tests/vectors/attestation.json", import.meta.url), "utf8"),
) as Record<string, string | number>;

const badge: StaffBadge = {
  display_name: vector.display_name as string,
  role: vector.role as StaffRole,
  signature_key: fromHex(vector.signature_key as string),
  expires_at: vector.expires_at as number,
  attestation: fromHex(vector.signature as string),
};
const serverKey = fromHex(vector.server_public_key as string);

describe("staff badges", () => {
  it("builds the transcript of the shared vector", () => {
    const t = attestationTranscript(badge.signature_key, badge.role, badge.display_name, badge.expires_at);
    expect(toHex(t)).toBe(vector.transcript);
    expect(toHex(ed25519.getPublicKey(fromHex(vector.server_secret_seed as string)))).toBe(vector.server_public_key);
  });

  it("verifies the vector's badge, and nothing changed or expired", () => {
    const now = badge.expires_at - 1;
    expect(verifyBadge(serverKey, badge, now)).toEqual({ ok: true, key: badge.signature_key });
    expect(verifyBadge(serverKey, badge, badge.expires_at)).toEqual({ ok: false, problem: "expired" });
    expect(verifyBadge(serverKey, { ...badge, display_name: "Ана" }, now)).toEqual({ ok: false, problem: "bad_attestation" });
    expect(verifyBadge(serverKey, { ...badge, role: "counsellor" }, now)).toEqual({ ok: false, problem: "bad_attestation" });
    expect(verifyBadge(serverKey, { ...badge, signature_key: new Uint8Array(32).fill(2) }, now).ok).toBe(false);
    expect(verifyBadge(new Uint8Array(32).fill(7), badge, now).ok).toBe(false);
    expect(verifyBadge(serverKey, { ...badge, attestation: badge.attestation.slice(1) }, now)).toEqual({
      ok: false,
      problem: "malformed",
    });
  });

  it("verifies the vector's tagged badge, and not with another or no tag", () => {
    const tagged: StaffBadge = {
      ...badge,
      account_tag: fromHex(vector.account_tag as string),
      attestation: fromHex(vector.tagged_signature as string),
    };
    const t = attestationTranscript(
      tagged.signature_key,
      tagged.role,
      tagged.display_name,
      tagged.expires_at,
      tagged.account_tag,
    );
    expect(toHex(t)).toBe(vector.tagged_transcript);
    const now = tagged.expires_at - 1;
    expect(verifyBadge(serverKey, tagged, now)).toEqual({ ok: true, key: tagged.signature_key });
    const { account_tag: _dropped, ...untagged } = tagged;
    expect(verifyBadge(serverKey, untagged, now).ok).toBe(false);
    expect(verifyBadge(serverKey, { ...tagged, account_tag: new Uint8Array(16).fill(0xa8) }, now).ok).toBe(false);
  });
});
