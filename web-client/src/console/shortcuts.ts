// Keyboard shortcuts for working the queue. Alt+letter, so that typing in
// the message box never triggers one; `code` rather than `key`, so they
// work the same on a Macedonian or Albanian keyboard layout (and with
// Option on a Mac, which would otherwise type a special character).

export type Shortcut = "next" | "accept" | "close" | "canned";

const BY_CODE: Readonly<Record<string, Shortcut>> = {
  KeyN: "next",
  KeyA: "accept",
  KeyC: "close",
  KeyR: "canned",
};

export function shortcutOf(e: Pick<KeyboardEvent, "altKey" | "ctrlKey" | "metaKey" | "shiftKey" | "code">): Shortcut | undefined {
  if (!e.altKey || e.ctrlKey || e.metaKey || e.shiftKey) return undefined;
  return BY_CODE[e.code];
}

/** The event name a shortcut that belongs to the open conversation is passed on with. */
export const PANE_SHORTCUT_EVENT = "parasol-console-shortcut";
