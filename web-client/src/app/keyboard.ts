// Whether a keyboard is in use: the "or press Esc twice" hint is only for
// people who have an Esc key. A touch-only phone never sends a keydown
// with a key like Tab or Escape and reports no fine pointer, so the hint
// stays hidden there; a laptop shows it at once (fine pointer, hover), and
// a tablet with a keyboard shows it after the first key press.

/** The class on <html> while a keyboard is (or is likely) in use. */
export const KEYBOARD_CLASS = "keyboard";

/** Keys a soft keyboard on a phone does not send (it sends letters, Enter, Backspace). */
const HARDWARE_KEYS = new Set(["Tab", "Escape", "Esc", "ArrowUp", "ArrowDown", "ArrowLeft", "ArrowRight", "Home", "End", "PageUp", "PageDown", "F1"]);

export function likelyHasKeyboard(matchMedia: ((query: string) => { matches: boolean }) | undefined): boolean {
  return matchMedia?.("(hover: hover) and (pointer: fine)").matches === true;
}

export function isHardwareKey(key: string): boolean {
  return HARDWARE_KEYS.has(key);
}

export function trackKeyboard(
  w: Pick<Window, "addEventListener"> & { matchMedia?: (query: string) => { matches: boolean } },
  root: { classList: Pick<DOMTokenList, "add"> },
): void {
  if (likelyHasKeyboard(w.matchMedia?.bind(w))) root.classList.add(KEYBOARD_CLASS);
  w.addEventListener(
    "keydown",
    (event) => {
      if (isHardwareKey((event as KeyboardEvent).key)) root.classList.add(KEYBOARD_CLASS);
    },
    { capture: true },
  );
}
