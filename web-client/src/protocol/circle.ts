// Peer support circles, mirroring protocol/src/circle.rs: moderated group
// chats joined by invitation. A visitor uses a fresh key in every circle.

import type { Bytes } from "./frame";

/** A circle as its moderators and members see it. */
export interface CircleInfo {
  circle_id: number;
  group_id: Bytes;
  name: string;
  language: string;
  topic: string;
  auto_approve: boolean;
  /** Whether the asking key moderates this circle. */
  moderator: boolean;
  members: number;
  max_members: number;
}

/** An invitation as its moderators see it; `code` only in the answer that creates it. */
export interface InvitationState {
  invitation_id: number;
  circle_id: number;
  code?: string;
  expires_at: number;
  max_uses: number;
  uses: number;
  revoked: boolean;
}

/** What an invitation's landing page shows before anyone joins. */
export interface InvitationPreview {
  circle_id: number;
  /** The circle's group: the page accepts a Welcome to this group only. */
  group_id: Bytes;
  name: string;
  language: string;
  topic: string;
  auto_approve: boolean;
}

/** A circle member under the name the server bound to her key. */
export interface CircleMember {
  client_id: Bytes;
  display_name: string;
  moderator: boolean;
  /** A counsellor (absent: false). */
  staff?: boolean;
  /** Muted by a moderator (absent: false). */
  muted?: boolean;
}

/** Someone asked to join; a moderator's client adds `key_package`. */
export interface JoinRequest {
  request_id: number;
  circle_id: number;
  client_id: Bytes;
  display_name: string;
  key_package: Bytes;
  requested_at: number;
}

/** Characters of an invitation code: Crockford's base32 (no I, L, O, U). */
export const INVITATION_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
export const INVITATION_CODE_CHARS = 12;
export const MAX_CIRCLE_TEXT_CHARS = 80;
export const MAX_DISPLAY_NAME_CHARS = 40;

/**
 * An invitation code as typed: case, spaces and dashes do not matter, and
 * O, I and L read as 0, 1 and 1. `undefined` if it cannot be a code.
 */
export function normalizeInvitationCode(typed: string): string | undefined {
  let code = "";
  for (const raw of typed) {
    if (raw === " " || raw === "-") continue;
    let c = raw.toUpperCase();
    if (c === "O") c = "0";
    if (c === "I" || c === "L") c = "1";
    if (!INVITATION_ALPHABET.includes(c) || c.length !== 1) return undefined;
    code += c;
  }
  return code.length === INVITATION_CODE_CHARS ? code : undefined;
}

/** A code shown in groups of four, as on a card handed out in outreach. */
export function formatInvitationCode(code: string): string {
  return code.match(/.{1,4}/g)?.join("-") ?? code;
}
