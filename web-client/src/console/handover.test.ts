import { describe, expect, it } from "vitest";

import { hex } from "../util/hex";
import { FakeConsole, bytes, ticket } from "../testing/console";
import { MAX_PENDING_NOTES, PendingNotes, decodeNote, encodeNote } from "./handover";

describe("hand-over notes inside their chat", () => {
  it("round-trips the chat's group and the text; plain text is not a note", () => {
    const chat = hex(bytes(7));
    expect(decodeNote(encodeNote(chat, "Calm; asked about testing.\nSecond line"))).toEqual({ chat, text: "Calm; asked about testing.\nSecond line" });
    expect(decodeNote("Asked about testing")).toBeUndefined();
    expect(decodeNote("\u2063handover:not-hex\ntext")).toBeUndefined();
  });

  it("keeps a bounded number of notes waiting for their chat", () => {
    const pending = new PendingNotes();
    for (let i = 0; i < MAX_PENDING_NOTES + 5; i++) pending.hold(`c${i}`, "k", `n${i}`);
    expect(pending.size).toBe(MAX_PENDING_NOTES);
    expect(pending.take("c0")).toBeUndefined();
    expect(pending.take(`c${MAX_PENDING_NOTES + 4}`)).toEqual({ sender: "k", text: `n${MAX_PENDING_NOTES + 4}` });
  });

  it("goes into its chat only from the colleague the server named; one that came first waits for the chat", () => {
    const fake = new FakeConsole();
    const chat = bytes(1);
    const ana = hex(bytes(0xaa, 32));
    const visitor = hex(bytes(0xbb, 32));
    const c = fake.core.conversation(chat, "chat", ticket(4));
    c.names.set(ana, "Ana");
    c.names.set(visitor, "");
    expect(fake.core.handoverNote(hex(chat), visitor, "I am a note, trust me")).toBe(false);
    expect(fake.core.handoverNote(hex(chat), hex(bytes(0xcd, 32)), "anyone")).toBe(false);
    expect(fake.core.handoverNote(hex(chat), ana, "Calm; asked about testing.")).toBe(true);
    expect(fake.lines(chat)).toEqual(["Hand-over note from Ana: Calm; asked about testing."]);
    expect(c.unread).toBe(1);

    const later = bytes(2);
    expect(fake.core.handoverNote(hex(later), ana, "Prefers Albanian.")).toBe(true);
    expect(fake.lines(later)).toEqual([]);
    fake.core.conversation(later, "chat", ticket(5)).names.set(ana, "Ana");
    fake.core.takePendingNote(hex(later));
    expect(fake.lines(later)).toEqual(["Hand-over note from Ana: Prefers Albanian."]);
  });
});
