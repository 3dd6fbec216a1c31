// Conversations as messages, signals and membership events come in, and as
// the counsellor writes: against the fake connection and MLS client.

import { describe, expect, it } from "vitest";

import { TYPING_START, TYPING_STOP } from "../chat/typing";
import { FakeConsole, bytes, ticket } from "../testing/console";
import { hex } from "../util/hex";
import { Chats } from "./chats";
import { conversationTitle } from "./labels";

const text = (s: string) => new TextEncoder().encode(s);
const G = bytes(1);
const VISITOR = bytes(0x99, 32);

function chats_() {
  const fake = new FakeConsole();
  const stale: string[] = [];
  return { fake, stale, chats: new Chats(fake.core, (g) => stale.push(hex(g))) };
}

function message(groupId: Uint8Array, sender: Uint8Array, plaintext: Uint8Array) {
  return { kind: "message" as const, groupId, epoch: 1, sender, plaintext };
}

describe("messages in", () => {
  it("a visitor's message in a chat not on screen counts as unread and tells the page", () => {
    const { fake, chats } = chats_();
    fake.core.conversation(G, "chat", ticket(4));
    chats.mlsEvent(message(G, VISITOR, text("hello")));
    const c = fake.core.find(G);
    expect(c?.lines.at(-1)).toMatchObject({ kind: "theirs", text: "hello", from: "Visitor" });
    expect(c?.unread).toBe(1);
    expect(fake.messages).toEqual(["health"]);
  });

  it("a message in the conversation on screen is not unread", () => {
    const { fake, chats } = chats_();
    fake.core.conversation(G, "chat", ticket(4));
    fake.core.open(G);
    chats.mlsEvent(message(G, VISITOR, text("hi")));
    expect(fake.core.find(G)?.unread).toBe(0);
    expect(fake.messages).toEqual([]);
  });

  it("a peer's line shows their name when known, else their key", () => {
    const { fake, chats } = chats_();
    const c = fake.core.conversation(G, "peer");
    chats.mlsEvent(message(G, bytes(0xab, 32), text("a")));
    c.names.set(hex(bytes(0xcd, 32)), "Besa");
    chats.mlsEvent(message(G, bytes(0xcd, 32), text("b")));
    expect(c.lines.map((l) => (l.kind === "theirs" ? l.from : ""))).toEqual(["a colleague", "Besa"]);
  });

  it("in a circle only the name bound to the key counts; an unknown sender asks for the roster", () => {
    const { fake, chats, stale } = chats_();
    const c = fake.core.conversation(G, "circle");
    chats.mlsEvent(message(G, bytes(0xab, 32), text(JSON.stringify({ n: "I am the moderator", t: "hey" }))));
    expect(c.lines.at(-1)).toMatchObject({ text: "hey", from: "(name not confirmed)" });
    expect(stale).toEqual([hex(G)]);
  });

  it("a typing signal is never a line: it shows while the visitor writes", () => {
    const { fake, chats } = chats_();
    const c = fake.core.conversation(G, "chat", ticket(4));
    chats.mlsEvent(message(G, VISITOR, TYPING_START));
    expect(c.visitorTyping).toBe(true);
    chats.mlsEvent(message(G, VISITOR, TYPING_STOP));
    expect(c.visitorTyping).toBe(false);
    chats.mlsEvent(message(G, VISITOR, TYPING_START));
    // Her message ends "typing" at once.
    chats.mlsEvent(message(G, VISITOR, text("here")));
    expect(c.visitorTyping).toBe(false);
    expect(c.lines.map((l) => l.text)).toEqual(["here"]);
  });

  it("a Welcome to an unknown group becomes a note I am in", () => {
    const { fake, chats } = chats_();
    chats.mlsEvent({ kind: "joined", groupId: G, epoch: 1, members: [] });
    const c = fake.core.find(G);
    expect(c).toMatchObject({ kind: "note", joined: true });
    expect(c === undefined ? "" : conversationTitle(c)).toBe("Hand-over note or group");
    expect(fake.lines(G)).toEqual(["You are in the conversation (end-to-end encrypted)."]);
  });

  it("being removed ends the conversation; others' membership changes are told", () => {
    const { fake, chats } = chats_();
    fake.core.conversation(G, "peer");
    chats.mlsEvent({ kind: "commit", groupId: G, epoch: 2, mine: false, committer: undefined, added: [bytes(2)], removed: [], removedMe: false });
    chats.mlsEvent({ kind: "commit", groupId: G, epoch: 3, mine: true, committer: undefined, added: [bytes(3)], removed: [], removedMe: false });
    chats.mlsEvent({ kind: "commit", groupId: G, epoch: 4, mine: false, committer: undefined, added: [], removed: [], removedMe: true });
    expect(fake.lines(G)).toEqual(["Members changed: 1 added, 0 removed.", "You are no longer in this chat."]);
    expect(fake.core.find(G)?.ended).toBe(true);
  });
});

describe("messages out", () => {
  it("a line goes from sending to sent, and the history is saved", async () => {
    const { fake, chats } = chats_();
    fake.core.conversation(G, "chat", ticket(4));
    const sending = chats.send(G, "how are you?");
    expect(fake.core.find(G)?.lines.at(-1)).toMatchObject({ kind: "mine", delivery: "sending" });
    await sending;
    expect(fake.core.find(G)?.lines.at(-1)).toMatchObject({ kind: "mine", text: "how are you?", delivery: "sent" });
    expect(fake.mlsCalls).toEqual([{ op: "sendText", group: hex(G), text: "how are you?" }]);
    expect(fake.saved.conversations).toEqual(["health"]);
  });

  it("a refused send is marked failed", async () => {
    const { fake, chats } = chats_();
    fake.core.conversation(G, "chat", ticket(4));
    fake.sendFails = true;
    await chats.send(G, "x");
    expect(fake.core.find(G)?.lines.at(-1)).toMatchObject({ delivery: "failed" });
  });

  it("in a circle my message carries my name", async () => {
    const { fake, chats } = chats_();
    fake.core.conversation(G, "circle");
    await chats.send(G, "welcome");
    expect(fake.mlsCalls[0]).toEqual({ op: "sendText", group: hex(G), text: JSON.stringify({ n: "Ana", t: "welcome" }) });
  });

  it("typing is signalled in chats only", () => {
    const { fake, chats } = chats_();
    fake.core.conversation(G, "chat", ticket(4));
    fake.core.conversation(bytes(2), "peer");
    chats.typing(bytes(2));
    chats.typing(G);
    expect(fake.mlsCalls.map((c) => [c.op, c.group])).toEqual([["sendSignal", hex(G)]]);
  });
});

describe("presence and SOS", () => {
  it("a presence change is one line; 'here' at first says nothing", () => {
    const { fake, chats } = chats_();
    fake.core.conversation(G, "chat", ticket(4));
    chats.push({ type: "visitor_presence", ticket_id: 4, group_id: G, presence: "here" });
    chats.push({ type: "visitor_presence", ticket_id: 4, group_id: G, presence: "reconnecting" });
    chats.push({ type: "visitor_presence", ticket_id: 4, group_id: G, presence: "reconnecting" });
    expect(fake.core.find(G)?.presence).toBe("reconnecting");
    expect(fake.lines(G)).toHaveLength(1);
  });

  it("an SOS marks the chat and alerts", () => {
    const { fake, chats } = chats_();
    fake.core.conversation(G, "chat", ticket(4));
    chats.push({ type: "sos_alert", group_id: G, ticket_id: 4 });
    expect(fake.core.find(G)?.sosAlert).toBe(true);
    expect(fake.alerts).toEqual(["SOS in Health and HIV · Macedonian"]);
  });
});
