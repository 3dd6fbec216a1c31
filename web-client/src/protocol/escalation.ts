// Escalation to the crisis line, mirroring protocol/src/escalation.rs:
// severities, categories, states, responders' duty, the counsellor's
// signed request and the escalation as staff see it. No content.

import { ed25519 } from "@noble/curves/ed25519.js";

import type { Bytes } from "./frame";
import type { StaffBadge } from "./intake";

export const SEVERITIES = ["high", "critical"] as const;
export type Severity = (typeof SEVERITIES)[number];

export const CATEGORIES = ["violence", "trafficking", "medical", "suicide_risk", "other"] as const;
export type Category = (typeof CATEGORIES)[number];

export const ESCALATION_STATUSES = ["open", "accepted", "resolved", "handed_off"] as const;
export type EscalationStatus = (typeof ESCALATION_STATUSES)[number];

export const ESCALATION_OUTCOMES = ["resolved", "handed_off"] as const;
export type EscalationOutcome = (typeof ESCALATION_OUTCOMES)[number];

export const DUTY_STATES = ["on_duty", "off_duty"] as const;
export type DutyState = (typeof DUTY_STATES)[number];

/** The counsellor's request, relayed to responders as it was made. */
export interface SignedEscalation {
  group_id: Bytes;
  severity: Severity;
  category: Category;
  /** Unix seconds. */
  issued_at: number;
  /** Ed25519 over `escalationTranscript` by the counsellor's session key. */
  signature: Bytes;
}

export interface EscalationEntry {
  escalation_id: number;
  status: EscalationStatus;
  request: SignedEscalation;
  language: string;
  counsellor: StaffBadge;
  responder?: StaffBadge;
  waited_secs: number;
  /** Absent means 0. */
  renotified?: number;
}

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
