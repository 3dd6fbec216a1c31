import { describe, expect, it } from "vitest";

import { FakeConsole, bytes, ticket } from "../testing/console";
import { hex } from "../util/hex";
import { MAX_LINES } from "./core";

describe("ConsoleCore", () => {
  it("makes a conversation once per group; a ticket makes it that chat", () => {
    const fake = new FakeConsole();
    const { core } = fake;
    const note = core.conversation(bytes(1), "note");
    expect(note.title).toBe("note");
    const again = core.conversation(bytes(1), "chat", ticket(12345));
    expect(again).toBe(note);
    expect(again.kind).toBe("chat");
    expect(again.ticket?.ticket_id).toBe(12345);
    const chat = core.conversation(bytes(2), "chat", ticket(12345));
    expect(chat.title).toBe("health");
    expect(core.state.conversations).toHaveLength(2);
  });

  it("keeps the last MAX_LINES lines, with ids that only grow", () => {
    const { core } = new FakeConsole();
    const c = core.conversation(bytes(1), "peer");
    for (let i = 0; i < MAX_LINES + 5; i += 1) core.addLine(c, { kind: "system", id: core.lineId(), text: `${i}` });
    expect(c.lines).toHaveLength(MAX_LINES);
    expect(c.lines[0]?.text).toBe("5");
    core.sawLine(5000);
    expect(core.lineId()).toBe(5001);
  });

  it("ending a conversation drops its group and saved state and says why once", () => {
    const fake = new FakeConsole();
    const { core } = fake;
    fake.groups.add(hex(bytes(1)));
    const c = core.conversation(bytes(1), "chat");
    core.ended(bytes(1), "Closed (support).");
    core.ended(bytes(1), "The chat has ended.");
    expect(c.ended).toBe(true);
    expect(fake.lines(bytes(1))).toEqual(["Closed (support)."]);
    expect(fake.mlsCalls).toEqual([{ op: "discardGroup", group: hex(bytes(1)) }]);
    expect(fake.saved.forgotten).toEqual([hex(bytes(1)), hex(bytes(1))]);
  });

  it("opening a conversation clears its unread count; dismissing forgets it", () => {
    const fake = new FakeConsole();
    const { core } = fake;
    const c = core.conversation(bytes(1), "chat");
    c.unread = 3;
    core.open(bytes(1));
    expect(core.activeGroup).toBe(hex(bytes(1)));
    expect(c.unread).toBe(0);
    core.dismiss(bytes(1));
    expect(core.activeGroup).toBeUndefined();
    expect(core.state.conversations).toEqual([]);
    // Every change reached the screen.
    expect(fake.changes.at(-1)).toBe(core.state);
  });

  it("tells a problem in the conversation, or on the console without one", () => {
    const fake = new FakeConsole();
    const c = fake.core.conversation(bytes(1), "chat");
    fake.core.tell(c, "in the chat");
    fake.core.tell(undefined, "on the console");
    expect(fake.lines(bytes(1))).toEqual(["in the chat"]);
    expect(fake.core.state.problem).toBe("on the console");
  });
});
