import { describe, expect, it } from "vitest";

import type { BoardRow, StrandedChat } from "../protocol";
import { presenceLabel, presenceLine, rescueTargets, strandedText } from "./presence";

const chat: StrandedChat = {
  ticket_id: 7,
  group_id: new Uint8Array([1]),
  language: "mk",
  counsellor: "Ana",
  counsellor_account: 1,
  reason: "offline",
};

const row = (account_id: number, patch: Partial<BoardRow> = {}): BoardRow => ({
  account_id,
  display_name: `s${account_id}`,
  role: "counsellor",
  shift: "available",
  connected: true,
  active_chats: 0,
  max_chats: 2,
  ...patch,
});

describe("visitor presence in the console", () => {
  it("labels every state but 'here', and writes a line for each", () => {
    expect(presenceLabel(undefined)).toBeUndefined();
    expect(presenceLabel("here")).toBeUndefined();
    expect(presenceLabel("reconnecting")).toMatch(/reconnecting/);
    expect(presenceLabel("left")).toMatch(/left/);
    expect(presenceLabel("quick_exit")).toMatch(/quick/);
    const lines = (["here", "reconnecting", "left", "quick_exit"] as const).map(presenceLine);
    expect(new Set(lines).size).toBe(4);
  });
});

describe("stranded chats on the board", () => {
  it("says whose chat and why", () => {
    expect(strandedText(chat)).toBe("Ana's chat (mk): counsellor offline");
    expect(strandedText({ ...chat, reason: "clocked_out" })).toMatch(/clocked out/);
  });

  it("offers only connected chat staff on shift with room, never the absent counsellor", () => {
    const rows = [
      row(1), // the absent counsellor herself
      row(2),
      row(3, { connected: false }),
      row(4, { shift: "on_break" }),
      row(5, { active_chats: 2 }),
      row(6, { role: "crisis_responder" }),
      row(7, { role: "supervisor", shift: "clocked_in" }),
    ];
    expect(rescueTargets(rows, chat).map((r) => r.account_id)).toEqual([2, 7]);
  });
});
