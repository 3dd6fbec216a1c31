import { describe, expect, it } from "vitest";

import { KEYBOARD_CLASS, trackKeyboard } from "./keyboard";

function fakeWindow(fine: boolean) {
  const listeners: Array<(e: { key: string }) => void> = [];
  return {
    listeners,
    matchMedia: (query: string) => ({ matches: fine && query.includes("pointer: fine") }),
    addEventListener: (_type: string, listener: (e: { key: string }) => void) => void listeners.push(listener),
  };
}

function fakeRoot() {
  const classes = new Set<string>();
  return { classes, classList: { add: (c: string) => void classes.add(c) } };
}

describe("the Esc hint's keyboard detection", () => {
  it("shows the hint at once on a laptop (fine pointer that hovers)", () => {
    const root = fakeRoot();
    trackKeyboard(fakeWindow(true) as never, root);
    expect(root.classes.has(KEYBOARD_CLASS)).toBe(true);
  });

  it("never on a touch phone typing with its soft keyboard", () => {
    const w = fakeWindow(false);
    const root = fakeRoot();
    trackKeyboard(w as never, root);
    for (const key of ["a", "Enter", "Backspace", "Unidentified"]) w.listeners.forEach((l) => l({ key }));
    expect(root.classes.has(KEYBOARD_CLASS)).toBe(false);
  });

  it("after a key only a hardware keyboard sends (a tablet with a keyboard)", () => {
    const w = fakeWindow(false);
    const root = fakeRoot();
    trackKeyboard(w as never, root);
    w.listeners.forEach((l) => l({ key: "Tab" }));
    expect(root.classes.has(KEYBOARD_CLASS)).toBe(true);
  });
});
