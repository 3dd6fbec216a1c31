import { describe, expect, it } from "vitest";

import { shortcutOf } from "./shortcuts";

const key = (code: string, mods: Partial<Record<"altKey" | "ctrlKey" | "metaKey" | "shiftKey", boolean>> = {}) => ({
  code,
  altKey: false,
  ctrlKey: false,
  metaKey: false,
  shiftKey: false,
  ...mods,
});

describe("keyboard shortcuts", () => {
  it("Alt+N, Alt+A, Alt+C, Alt+R by physical key (any layout)", () => {
    expect(["KeyN", "KeyA", "KeyC", "KeyR"].map((c) => shortcutOf(key(c, { altKey: true })))).toEqual(["next", "accept", "close", "canned"]);
  });

  it("plain typing and other combinations are never a shortcut", () => {
    expect(shortcutOf(key("KeyN"))).toBeUndefined();
    expect(shortcutOf(key("KeyN", { altKey: true, ctrlKey: true }))).toBeUndefined();
    expect(shortcutOf(key("KeyN", { altKey: true, shiftKey: true }))).toBeUndefined();
    expect(shortcutOf(key("KeyX", { altKey: true }))).toBeUndefined();
  });
});
