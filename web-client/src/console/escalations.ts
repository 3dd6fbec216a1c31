// What the console decides about escalations, with no I/O: whether an
// escalation in a responder's queue really comes from a counsellor
// (the counsellor's badge verifies and the request is signed by its key),
// whether a responder the server names may be added to a chat, and the
// words for an escalation's state.

import { ct } from "../i18n/console";
import {
  type Category,
  type EscalationEntry,
  type Severity,
  type StaffBadge,
  type StaffRole,
  verifiedKeyWithRole,
  verifyEscalation,
} from "../protocol";

/** Roles that may escalate a chat (its counsellor, or a supervisor). */
const ESCALATING_ROLES: readonly StaffRole[] = ["counsellor", "supervisor", "admin"];

export type EscalationCheck = "verified" | "unknown_counsellor" | "bad_signature";

/** Check a queue entry before a responder is shown it as verified. */
export function checkEscalation(entry: EscalationEntry, attestationKey: Uint8Array | undefined, now: number): EscalationCheck {
  const key = verifiedKeyWithRole(attestationKey, entry.counsellor, ESCALATING_ROLES, now);
  if (key === undefined) return "unknown_counsellor";
  return verifyEscalation(entry.request, key) ? "verified" : "bad_signature";
}

/** The key of a crisis responder the server asks me to add, when the badge verifies; else undefined. */
export function responderKey(badge: StaffBadge, attestationKey: Uint8Array | undefined, now: number): Uint8Array | undefined {
  return verifiedKeyWithRole(attestationKey, badge, ["crisis_responder"], now);
}

export const severityLabel = (severity: Severity): string => ct(`sev.${severity}`);
export const categoryLabel = (category: Category): string => ct(`cat.${category}`);

/** The escalation's state in words, for the chat's pane. */
export function escalationStatusText(entry: EscalationEntry): string {
  const what = `${severityLabel(entry.request.severity)} · ${categoryLabel(entry.request.category)}`;
  const responder = entry.responder?.display_name ?? ct("esc.aResponder");
  switch (entry.status) {
    case "open":
      return ct("esc.open", what, entry.renotified ?? 0);
    case "accepted":
      return ct("esc.accepted", responder, what);
    case "resolved":
      return ct("esc.resolved", what);
    case "handed_off":
      return ct("esc.handedOff", responder, what);
  }
}
