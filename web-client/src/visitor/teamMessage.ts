// What the visitor is told after leaving a message for the team: "sent"
// only when at least one counsellor's current key received it; otherwise
// that it could not be delivered, with the crisis lines.

import { ServerError } from "../net/connection";
import type { CrisisLine, Help } from "../protocol";

export type TeamMessageOutcome =
  /** Sealed to `deliveredTo` (≥ 1) counsellors' current keys. */
  | { kind: "sent"; deliveredTo: number }
  /** Nobody on the team can read it: say so, and where else to turn. */
  | { kind: "undelivered"; crisisLines: CrisisLine[] };

/** The outcome of a `team_message_left` answer. */
export function outcomeOfDelivery(deliveredTo: number, help: Help | undefined): TeamMessageOutcome {
  if (Number.isInteger(deliveredTo) && deliveredTo >= 1) return { kind: "sent", deliveredTo };
  return { kind: "undelivered", crisisLines: help?.crisis_lines ?? [] };
}

/**
 * The outcome of a refusal while leaving the message: the server's "nobody
 * can receive it" becomes "undelivered" with the refusal's crisis lines (or
 * the ones we already have). Anything else is not an outcome (undefined):
 * the caller shows its error.
 */
export function outcomeOfRefusal(e: unknown, fallback: Help | undefined): TeamMessageOutcome | undefined {
  if (!(e instanceof ServerError) || e.frame.code !== "no_counsellor_available") return undefined;
  return { kind: "undelivered", crisisLines: e.frame.help?.crisis_lines ?? fallback?.crisis_lines ?? [] };
}
