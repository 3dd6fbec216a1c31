// Escalation to the crisis line, as protocol/src/escalation.rs: the
// transcript a counsellor signs, signing and checking it. The escalation
// types are generated: generated/types.ts.

import { ed25519 } from "@noble/curves/ed25519.js";

import type { Category, Severity, SignedEscalation } from "./generated/types";

export const ESCALATION_LABEL = new TextEncoder().encode("parasol/v1/escalation");

function field(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + bytes.length);
  new DataView(out.buffer).setUint32(0, bytes.length);
  out.set(bytes, 4);
  return out;
}

/** The bytes a counsellor signs to escalate (PROTOCOL.md, "Escalation"). */
export function escalationTranscript(groupId: Uint8Array, severity: Severity, category: Category, issuedAt: number): Uint8Array {
  const time = new Uint8Array(8);
  new DataView(time.buffer).setBigUint64(0, BigInt(issuedAt));
  const text = new TextEncoder();
  const parts = [ESCALATION_LABEL, groupId, text.encode(severity), text.encode(category), time].map(field);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Sign an escalation with the session's Ed25519 secret key. */
export function signEscalation(
  secretKey: Uint8Array,
  groupId: Uint8Array,
  severity: Severity,
  category: Category,
  issuedAt: number,
): SignedEscalation {
  const signature = ed25519.sign(escalationTranscript(groupId, severity, category, issuedAt), secretKey);
  return { group_id: groupId, severity, category, issued_at: issuedAt, signature };
}

/** Whether `signer` (a 32-byte Ed25519 public key) made this request. */
export function verifyEscalation(request: SignedEscalation, signer: Uint8Array): boolean {
  if (signer.length !== 32 || request.signature.length !== 64) return false;
  try {
    const transcript = escalationTranscript(request.group_id, request.severity, request.category, request.issued_at);
    return ed25519.verify(request.signature, transcript, signer, { zip215: false });
  } catch {
    return false;
  }
}
