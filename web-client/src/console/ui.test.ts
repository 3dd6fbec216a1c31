import { describe, expect, it } from "vitest";

import { setConsoleLanguage } from "../i18n/console";
import { SHIFT_STATES, minutes, shiftLabel, useAction } from "./ui";

describe("console screen helpers", () => {
  it("says waits in seconds, then whole minutes", () => {
    expect([0, 59, 60, 119, 600].map(minutes)).toEqual(["0s", "59s", "1 min", "1 min", "10 min"]);
  });

  it("names every shift state, in the console's language", () => {
    expect([...SHIFT_STATES].sort()).toEqual(["available", "clocked_in", "clocked_out", "on_break"]);
    expect(shiftLabel("on_break")).toBe("On break");
    setConsoleLanguage("mk");
    expect(shiftLabel("on_break")).toBe("Пауза");
    expect(minutes(180)).toBe("3 мин");
    setConsoleLanguage("en");
  });

  it("an action clears the last problem, and its failure becomes the problem in words", async () => {
    const problems: Array<string | undefined> = [];
    const act = useAction((p) => problems.push(p));
    act(async () => undefined);
    act(async () => {
      throw new Error("queue full");
    });
    act(() => Promise.reject("plain"));
    await new Promise((r) => setTimeout(r, 0));
    expect(problems).toEqual([undefined, undefined, undefined, "queue full", "plain"]);
  });
});
