// Small things the console's screens share: how long someone waited, the
// shift's words, and running an action with its failure shown in words.

import { ct, duration } from "../i18n/console";
import type { ShiftState } from "../protocol";

/** Runs an action for the screen; a failure shows as the console's problem line. */
export type Act = (fn: () => Promise<unknown>) => void;

/** A wait, short: "40s", "3 min", "1 h 5 min" (in the console's language). */
export function minutes(secs: number): string {
  return duration(secs);
}

export const SHIFT_STATES: readonly ShiftState[] = ["available", "on_break", "clocked_in", "clocked_out"];

/** The shift state in the console's language. */
export function shiftLabel(state: ShiftState): string {
  return ct(`shift.${state}`);
}

/** Run an action and show its failure in words (never content). */
export function useAction(setProblem: (p: string | undefined) => void): Act {
  return (fn: () => Promise<unknown>) => {
    setProblem(undefined);
    fn().catch((e: unknown) => setProblem(e instanceof Error ? e.message : String(e)));
  };
}
