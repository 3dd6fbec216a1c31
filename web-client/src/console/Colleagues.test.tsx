import { render } from "preact-render-to-string";
import { describe, expect, it } from "vitest";

import type { BoardRow } from "../protocol";
import { staffStub, textOf } from "../testing/screens";
import { ColleaguePicker } from "./Colleagues";
import { transferTargets } from "./colleagues";

const row = (account_id: number, display_name: string, extra: Partial<BoardRow> = {}): BoardRow =>
  ({ account_id, display_name, role: "counsellor", shift: "available", connected: true, active_chats: 1, max_chats: 4, ...extra }) as BoardRow;

describe("whom a chat can go to", () => {
  it("colleagues on shift, connected, with room, not me; available and least busy first", () => {
    const rows = [
      row(1, "Me"),
      row(2, "Besa", { active_chats: 3 }),
      row(3, "Ana", { active_chats: 0 }),
      row(4, "Dita", { shift: "on_break" }),
      row(5, "Era", { connected: false }),
      row(6, "Fiona", { active_chats: 4 }),
      row(7, "Gent", { role: "crisis_responder" }),
      row(8, "Hana", { shift: "clocked_in", active_chats: 0 }),
    ];
    expect(transferTargets(rows, 1).map((r) => r.display_name)).toEqual(["Ana", "Besa", "Hana"]);
  });

  it("a counsellor is told the server picks; a supervisor gets a list by name", () => {
    const counsellor = textOf(render(<ColleaguePicker staff={staffStub()} canPick={false} myAccountId={1} value="" onChange={() => {}} />));
    expect(counsellor).toContain("It goes to the colleague on shift with the fewest chats.");
    expect(counsellor).not.toMatch(/account number/i);
    const supervisor = textOf(render(<ColleaguePicker staff={staffStub()} canPick myAccountId={1} value="" onChange={() => {}} />));
    expect(supervisor).toContain("Give it to The best available colleague");
  });
});
