// Staff badges, mirroring protocol/src/staff.rs: the server's Ed25519
// attestation binding a staff member's MLS signature key to a role and a
// display name until a time (PROTOCOL.md, "Staff attestation").

import { ed25519 } from "@noble/curves/ed25519.js";

import type { StaffBadge, StaffRole } from "./generated/types";

export const ATTESTATION_LABEL = new TextEncoder().encode("parasol/v1/staff-attestation");

function lengthPrefixed(parts: Uint8Array[]): Uint8Array {
  const total = parts.reduce((n, p) => n + 4 + p.length, 0);
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  let at = 0;
  for (const part of parts) {
    view.setUint32(at, part.length);
    out.set(part, at + 4);
    at += 4 + part.length;
  }
  return out;
}

/**
 * The bytes the server signs (staff::tagged_attestation_transcript): with a
 * non-empty `accountTag`, one more length-prefixed field at the end.
 */
export function attestationTranscript(
  signatureKey: Uint8Array,
  role: StaffRole,
  displayName: string,
  expiresAt: number,
  accountTag?: Uint8Array,
): Uint8Array {
  const expires = new Uint8Array(8);
  new DataView(expires.buffer).setBigUint64(0, BigInt(expiresAt));
  const utf8 = new TextEncoder();
  const fields = [ATTESTATION_LABEL, signatureKey, utf8.encode(role), utf8.encode(displayName), expires];
  if (accountTag !== undefined && accountTag.length > 0) fields.push(accountTag);
  return lengthPrefixed(fields);
}

export type BadgeProblem = "malformed" | "expired" | "bad_attestation";

/**
 * Check a badge with the server's attestation key at `now` (Unix seconds):
 * the key it vouches for, or why it does not hold. Strict verification
 * (zip215 off: no malleable signatures, no small-order keys), as Rust's
 * `verify_strict`.
 */
export function verifyBadge(
  attestationKey: Uint8Array,
  badge: StaffBadge,
  now: number,
): { ok: true; key: Uint8Array } | { ok: false; problem: BadgeProblem } {
  if (badge.signature_key.length !== 32 || badge.attestation.length !== 64 || attestationKey.length !== 32) {
    return { ok: false, problem: "malformed" };
  }
  if (badge.expires_at <= now) return { ok: false, problem: "expired" };
  const transcript = attestationTranscript(
    badge.signature_key,
    badge.role,
    badge.display_name,
    badge.expires_at,
    badge.account_tag,
  );
  let valid = false;
  try {
    valid = ed25519.verify(badge.attestation, transcript, attestationKey, { zip215: false });
  } catch {
    valid = false;
  }
  return valid ? { ok: true, key: badge.signature_key } : { ok: false, problem: "bad_attestation" };
}

/**
 * A badge that verifies and names one of `roles`: the key it vouches for,
 * else undefined (a crisis responder to add, a counsellor who escalated).
 */
export function verifiedKeyWithRole(
  attestationKey: Uint8Array | undefined,
  badge: StaffBadge,
  roles: readonly StaffRole[],
  now: number,
): Uint8Array | undefined {
  if (attestationKey === undefined || !roles.includes(badge.role)) return undefined;
  const result = verifyBadge(attestationKey, badge, now);
  return result.ok ? result.key : undefined;
}
