import { render } from "preact-render-to-string";
import { describe, expect, it } from "vitest";

import type { BoardRow, StrandedChat } from "../protocol";
import { bytes } from "../testing/console";
import { staffStub, textOf } from "../testing/screens";
import { Board, Stranded } from "./Board";

const row = (id: number, name: string, patch: Partial<BoardRow> = {}): BoardRow => ({
  account_id: id,
  display_name: name,
  role: "counsellor",
  shift: "available",
  connected: true,
  active_chats: 1,
  max_chats: 4,
  ...patch,
});
const stranded: StrandedChat = { ticket_id: 12, group_id: bytes(3), language: "mk", counsellor: "Ana", counsellor_account: 1, reason: "offline" };

describe("supervisor board", () => {
  it("waits for the board before showing anything", () => {
    expect(textOf(render(<Board staff={staffStub()} />))).toBe("Loading the board…");
  });

  it("a stranded chat can be given only to a colleague who can take it", () => {
    const board = {
      queueDepth: 0,
      longestWaitSecs: 0,
      openEscalations: 0,
      stranded: [stranded],
      staff: [row(1, "Ana"), row(2, "Besa"), row(3, "Drita", { connected: false }), row(4, "Elira", { active_chats: 4 }), row(5, "Rina", { role: "crisis_responder" })],
    };
    const html = render(<Stranded staff={staffStub()} board={board} onDone={() => {}} />);
    const options = [...html.matchAll(/<option[^>]*?value(?:="(\d*)")?>([^<]*)</g)].map((m) => [m[1] ?? "", m[2]]);
    expect(options).toEqual([
      ["", "choose a colleague"],
      ["2", "Besa"],
    ]);
    expect(html).toContain('data-ticket="12"');
    expect(textOf(html)).toContain("Take it myself");
    // Nobody chosen yet: reassigning waits.
    expect(html).toMatch(/<button type="button" disabled[^>]*>\s*Reassign/);
  });

  it("says when no chat is stranded", () => {
    const board = { queueDepth: 0, longestWaitSecs: 0, openEscalations: 0, stranded: [], staff: [] };
    expect(textOf(render(<Stranded staff={staffStub()} board={board} onDone={() => {}} />))).toContain("Stranded chats None.");
  });
});
