// Types of the intake queue and the counsellors' shifts, mirroring
// protocol/src/intake.rs and staff.rs: tickets, offers, the staff badge a
// visitor checks, and the help a refused visitor gets. No content anywhere.

import { sha256 } from "@noble/hashes/sha2.js";

import type { Bytes } from "./frame";

export type StaffRole = "counsellor" | "supervisor" | "crisis_responder" | "admin";
export const STAFF_ROLES: readonly StaffRole[] = ["counsellor", "supervisor", "crisis_responder", "admin"];

/** A counsellor's shift state, set explicitly. */
export type ShiftState = "clocked_in" | "available" | "on_break" | "clocked_out";
export const SHIFT_STATES: readonly ShiftState[] = ["clocked_in", "available", "on_break", "clocked_out"];

export type ClosedReason = "cancelled" | "closed" | "abandoned" | "blocked";
export const CLOSED_REASONS: readonly ClosedReason[] = ["cancelled", "closed", "abandoned", "blocked"];

/** The one feedback question after a chat: did it help? */
export type FeedbackAnswer = "helped" | "somewhat" | "not_helped";
export const FEEDBACK_ANSWERS: readonly FeedbackAnswer[] = ["helped", "somewhat", "not_helped"];

/** Where a visitor's ticket stands. */
export interface TicketState {
  ticket_id: number;
  status: TicketStatus;
  /** Only in the answer that creates or resumes the ticket. */
  resume_secret?: Bytes;
  /** Seconds a disconnected visitor has to come back. */
  resume_grace_secs: number;
}

export type TicketStatus =
  /** `position` counts from 1 among waiting tickets of the same language, in serving order. */
  | { state: "waiting"; position: number; estimated_wait_secs: number }
  /**
   * A counsellor has the chat. With `add_counsellor`, the visitor's client
   * must add that counsellor (transfer or hand-over) after checking the badge.
   * `transferred` absent means false.
   */
  | {
      state: "in_chat";
      group_id: Bytes;
      counsellor: StaffBadge;
      transferred?: boolean;
      add_counsellor?: CounsellorToAdd;
      /** Crisis responders brought in by an escalation (absent: none). */
      responders?: StaffBadge[];
      /** With `add_counsellor`: a supervisor moved the chat because its counsellor was away. */
      rescued?: boolean;
    }
  | { state: "closed"; reason: ClosedReason };

/** A counsellor the visitor's client is asked to add to its chat. */
export interface CounsellorToAdd {
  badge: StaffBadge;
  /** Its credential key must equal the badge's `signature_key`. */
  key_package: Bytes;
}

/** The server's signed statement that a signature key belongs to a staff member. */
export interface StaffBadge {
  display_name: string;
  role: StaffRole;
  signature_key: Bytes;
  expires_at: number;
  attestation: Bytes;
  /** Opaque, the same for every key of one staff account (16 bytes; absent on old badges); covered by the attestation. */
  account_tag?: Bytes;
}

/** A ticket as staff see it: no content, no visitor identifier. */
export interface QueueEntry {
  ticket_id: number;
  language: string;
  topic: string;
  urgent: boolean;
  waited_secs: number;
  offered: boolean;
  /** A chat handed back by a counsellor who clocked out (absent means false). */
  handover?: boolean;
}

/** A crisis line shown to visitors who cannot be served now. */
export interface CrisisLine {
  name: string;
  number: string;
  /** When it answers, in words, e.g. "24/7". */
  hours: string;
}

/** One opening window, in the service's time zone. */
export interface OpeningWindow {
  /** 1 = Monday … 7 = Sunday. */
  weekday: number;
  /** Minutes after midnight. */
  opens: number;
  closes: number;
}

/** What every refused or off-hours visitor gets: where else to turn. */
export interface Help {
  crisis_lines: CrisisLine[];
  /** When the service opens next (Unix seconds), if it is closed. */
  next_open_at?: number;
}

export interface PowChallenge {
  challenge: Bytes;
  difficulty_bits: number;
}

export interface PowSolution {
  challenge: Bytes;
  nonce: Bytes;
}

export interface BoardRow {
  /** For `rescue_chat`'s `to`. */
  account_id: number;
  display_name: string;
  role: StaffRole;
  shift: ShiftState;
  connected: boolean;
  active_chats: number;
  max_chats: number;
}

export type StrandedReason = "offline" | "clocked_out";
export const STRANDED_REASONS: readonly StrandedReason[] = ["offline", "clocked_out"];

/** A chat whose counsellor is offline, or clocked out with it open (`rescue_chat`). */
export interface StrandedChat {
  ticket_id: number;
  group_id: Bytes;
  language: string;
  counsellor: string;
  counsellor_account: number;
  reason: StrandedReason;
}

/** What a chat's counsellor is told about her visitor's connection. */
export type VisitorPresence = "here" | "reconnecting" | "left" | "quick_exit";
export const VISITOR_PRESENCES: readonly VisitorPresence[] = ["here", "reconnecting", "left", "quick_exit"];

export interface TeamMessage {
  group_id: Bytes;
  language: string;
  left_at: number;
}

// --- Proof of work (intake.rs) ------------------------------------------------

export const POW_DOMAIN = new TextEncoder().encode("parasol/v1/pow");
export const MAX_POW_NONCE_BYTES = 16;

export function leadingZeroBits(digest: Uint8Array): number {
  let bits = 0;
  for (const byte of digest) {
    if (byte === 0) {
      bits += 8;
      continue;
    }
    bits += Math.clz32(byte) - 24;
    break;
  }
  return bits;
}

/** SHA-256("parasol/v1/pow" ‖ challenge ‖ client id ‖ nonce). */
export function powDigest(challenge: Uint8Array, clientId: Uint8Array, nonce: Uint8Array): Uint8Array {
  const input = new Uint8Array(POW_DOMAIN.length + challenge.length + clientId.length + nonce.length);
  let at = 0;
  for (const part of [POW_DOMAIN, challenge, clientId, nonce]) {
    input.set(part, at);
    at += part.length;
  }
  return sha256(input);
}

export function powSolves(puzzle: PowChallenge, clientId: Uint8Array, nonce: Uint8Array): boolean {
  return (
    nonce.length <= MAX_POW_NONCE_BYTES &&
    leadingZeroBits(powDigest(puzzle.challenge, clientId, nonce)) >= puzzle.difficulty_bits
  );
}

/**
 * Find a nonce (about 2^difficulty hashes), as the Rust `solve_pow`: an
 * 8-byte big-endian counter. Stops after `maxAttempts` and returns undefined.
 */
export function solvePow(puzzle: PowChallenge, clientId: Uint8Array, maxAttempts = 2 ** 26): Bytes | undefined {
  const nonce = new Uint8Array(8);
  const view = new DataView(nonce.buffer);
  for (let counter = 0; counter < maxAttempts; counter++) {
    view.setUint32(0, Math.floor(counter / 2 ** 32));
    view.setUint32(4, counter >>> 0);
    if (powSolves(puzzle, clientId, nonce)) return nonce.slice();
  }
  return undefined;
}
