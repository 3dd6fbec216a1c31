// What the visitor sees of a chat: their lines with a delivery state, the
// counsellor's lines, and system lines; and who the counsellor is, shown
// as "verified" only when the server's badge verifies here, in the page,
// and the badge's key is a member of the group (PROTOCOL.md, "Badges").
// Pure bookkeeping: no I/O, no MLS.

import type { CrisisLine, StaffBadge } from "../protocol";
import { verifyBadge } from "../protocol";
import { equalBytes } from "../mls";
import { hex } from "../util/hex";

/** Where one of my messages is. "queued": written while waiting, sent when the chat opens. */
export type Delivery = "queued" | "sending" | "sent" | "failed";

export type SystemEvent =
  | "counsellor_joined"
  | "transferred"
  /** A supervisor moved the chat because its counsellor was away. */
  | "rescued"
  | "new_counsellor_joined"
  | "previous_counsellor_left"
  /** My counsellor lost her state and came back with a new key, which my page brought in. */
  | "counsellor_reconnected"
  /** Escalation: a crisis responder joined (wired by the escalation flow, see `VisitorIntake.noteEscalation`). */
  | "crisis_joined"
  /** Escalation: nobody accepted in time; the line carries the fallback numbers. */
  | "crisis_fallback"
  | "unverified_member"
  /** "I'm in danger now" reached the counsellor (in a chat) or moved her ticket up (waiting). */
  | "sos_alerted"
  | "sos_urgent"
  | "ended"
  /** Peer support circles. */
  | "circle_joined"
  | "circle_muted"
  | "circle_ended";

export type ChatLine =
  | { kind: "mine"; id: number; text: string; delivery: Delivery }
  | { kind: "theirs"; id: number; text: string; from: string; verified: boolean }
  | { kind: "system"; id: number; event: SystemEvent; name?: string; numbers?: CrisisLine[] };

export interface Counsellor {
  displayName: string;
  /** The badge verified against the server's attestation key and its key is in my group. */
  verified: boolean;
  key: Uint8Array;
}

type NewLine = ChatLine extends infer L ? (L extends ChatLine ? Omit<L, "id"> : never) : never;

/** Most lines kept: a long chat drops its oldest lines from the screen (never from the other side). */
export const MAX_LINES = 1000;

export class ChatLog {
  private nextId = 1;
  lines: ChatLine[] = [];
  counsellor: Counsellor | undefined;
  /** Staff I have seen a verified badge for, by key (hex): names for their lines. */
  private readonly staff = new Map<string, { name: string; verified: boolean }>();

  constructor(private readonly attestationKey: () => Uint8Array | undefined) {}

  private add(line: NewLine): number {
    const id = this.nextId++;
    this.lines = [...this.lines, { ...line, id } as ChatLine];
    if (this.lines.length > MAX_LINES) this.lines = this.lines.slice(-MAX_LINES);
    return id;
  }

  mine(text: string, delivery: Delivery): number {
    return this.add({ kind: "mine", text, delivery });
  }

  setDelivery(id: number, delivery: Delivery): void {
    this.lines = this.lines.map((l) => (l.id === id && l.kind === "mine" ? { ...l, delivery } : l));
  }

  queued(): Array<{ id: number; text: string }> {
    return this.lines.flatMap((l) => (l.kind === "mine" && l.delivery === "queued" ? [{ id: l.id, text: l.text }] : []));
  }

  system(event: SystemEvent, name?: string): void {
    this.add(name === undefined ? { kind: "system", event } : { kind: "system", event, name });
  }

  /** A system line with phone numbers to call (the escalation's fallback). */
  numbers(event: SystemEvent, numbers: CrisisLine[]): void {
    this.add({ kind: "system", event, numbers });
  }

  /** A text from member `sender`. */
  theirs(sender: Uint8Array, text: string): void {
    const known = this.staff.get(hex(sender));
    this.add({ kind: "theirs", text, from: known?.name ?? "", verified: known?.verified ?? false });
  }

  /**
   * The server named this badge as my counsellor (or one being added).
   * Returns the key it vouches for when it verifies, else undefined.
   */
  checkBadge(badge: StaffBadge, now: number = Math.floor(Date.now() / 1000)): Uint8Array | undefined {
    const key = this.attestationKey();
    if (key === undefined) return undefined;
    const result = verifyBadge(key, badge, now);
    return result.ok ? result.key : undefined;
  }

  /** Set the counsellor from the ticket; verified only when the badge verifies and `members` holds its key. */
  setCounsellor(badge: StaffBadge, members: Uint8Array[] | undefined): void {
    const badgeOk = this.checkBadge(badge) !== undefined;
    this.staff.set(hex(badge.signature_key), { name: badge.display_name, verified: badgeOk });
    this.counsellor = { displayName: badge.display_name, verified: false, key: badge.signature_key };
    if (members !== undefined) this.membersChanged(members);
  }

  /** Membership changed: the counsellor is verified while their badge held and their key is a member. */
  membersChanged(members: Uint8Array[]): void {
    const c = this.counsellor;
    if (c === undefined) return;
    const badgeOk = this.staff.get(hex(c.key))?.verified === true;
    this.counsellor = { ...c, verified: badgeOk && members.some((m) => equalBytes(m, c.key)) };
  }

  /** Remember a verified staff member's name by key (their lines show it). */
  knowStaff(key: Uint8Array, name: string, verified: boolean): void {
    this.staff.set(hex(key), { name, verified });
  }

  isKnownStaff(key: Uint8Array): boolean {
    return this.staff.has(hex(key));
  }
}
