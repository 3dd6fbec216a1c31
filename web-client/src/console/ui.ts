// Small things the console's screens share: how long someone waited, the
// shift's words, and running an action with its failure shown in words.

import type { ShiftState } from "../protocol";

/** Runs an action for the screen; a failure shows as the console's problem line. */
export type Act = (fn: () => Promise<unknown>) => void;

export function minutes(secs: number): string {
  return secs < 60 ? `${secs}s` : `${Math.floor(secs / 60)} min`;
}

export const SHIFT_LABELS: Record<ShiftState, string> = {
  available: "Available",
  on_break: "On break",
  clocked_in: "Clocked in (no offers)",
  clocked_out: "Clocked out",
};

/** Run an action and show its failure in words (never content). */
export function useAction(setProblem: (p: string | undefined) => void): Act {
  return (fn: () => Promise<unknown>) => {
    setProblem(undefined);
    fn().catch((e: unknown) => setProblem(e instanceof Error ? e.message : String(e)));
  };
}
