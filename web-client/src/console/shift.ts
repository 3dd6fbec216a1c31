// Clocking out with open chats the page does not know of (after a reload
// its conversation list starts empty): the server refuses with
// `handover_required`, and the console offers the hand-over instead of
// leaving her stuck.

import { ServerError } from "../net/connection";
import type { ShiftState } from "../protocol";

/**
 * The question to ask before retrying `set_shift` with `handover: true`,
 * or undefined when the refusal is not one a hand-over answers.
 */
export function handoverQuestion(error: unknown, state: ShiftState, askedHandover: boolean): string | undefined {
  if (state !== "clocked_out" || askedHandover) return undefined;
  if (!(error instanceof ServerError) || error.code !== "handover_required") return undefined;
  return `${error.frame.message}\n\nHand your open chats back to the queue?`;
}
