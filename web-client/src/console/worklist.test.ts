import { describe, expect, it } from "vitest";

import { bytes, ticket } from "../testing/console";
import { conversationOf } from "../testing/screens";
import { nextConversation, nextToAccept, waitingSince, workList } from "./worklist";

const NOW = 1_000_000;

describe("the work list", () => {
  it("lists each ticket once: an offer is not listed again as waiting, a chat not again as a ticket", () => {
    const offered = ticket(1);
    const inChat = ticket(2);
    const items = workList({
      offers: [{ ticket: offered, expiresAt: NOW + 30_000, seenAt: NOW }],
      queue: [offered, inChat, ticket(3)],
      queueSeenAt: NOW,
      conversations: [conversationOf({ ticket: inChat })],
    });
    expect(items.map((i) => i.kind).sort()).toEqual(["conversation", "offer", "waiting"]);
    expect(items.map((i) => i.key)).toHaveLength(new Set(items.map((i) => i.key)).size);
  });

  it("puts who waits longest on top, urgent first; answered chats after, ended last", () => {
    const longWaiting = conversationOf({ groupId: bytes(1), title: "long", lastTheirsAt: NOW - 600_000, lastMineAt: NOW - 900_000 });
    const answered = conversationOf({ groupId: bytes(2), title: "answered", lastTheirsAt: NOW - 900_000, lastMineAt: NOW - 60_000 });
    const ended = conversationOf({ groupId: bytes(3), title: "ended", ended: true, lastTheirsAt: NOW - 2_000_000 });
    const sos = conversationOf({ groupId: bytes(4), title: "sos", sosAlert: true, lastTheirsAt: NOW - 10_000 });
    const items = workList({
      offers: [],
      // Waited 2 min by the time the queue was read: less than the chat's 10 min.
      queue: [ticket(9, { waited_secs: 120 }), ticket(10, { waited_secs: 60 * 60, urgent: false })],
      queueSeenAt: NOW,
      conversations: [answered, ended, longWaiting, sos],
    });
    expect(items.map((i) => (i.kind === "conversation" ? i.conversation.title : `ticket ${i.ticket.ticket_id}`))).toEqual([
      "sos",
      "ticket 10",
      "long",
      "ticket 9",
      "answered",
      "ended",
    ]);
  });

  it("a chat waits from the visitor's last line that I have not answered", () => {
    expect(waitingSince(conversationOf({}))).toBeUndefined();
    expect(waitingSince(conversationOf({ lastTheirsAt: 5 }))).toBe(5);
    expect(waitingSince(conversationOf({ lastTheirsAt: 5, lastMineAt: 6 }))).toBeUndefined();
    expect(waitingSince(conversationOf({ lastTheirsAt: 7, lastMineAt: 6 }))).toBe(7);
    expect(waitingSince(conversationOf({ lastTheirsAt: 7, ended: true }))).toBeUndefined();
  });

  it("next goes down the open conversations and wraps; accept takes the offer, else the longest wait", () => {
    const a = conversationOf({ groupId: bytes(1), lastTheirsAt: 1 });
    const b = conversationOf({ groupId: bytes(2), lastTheirsAt: 2 });
    const gone = conversationOf({ groupId: bytes(3), ended: true });
    const items = workList({ offers: [], queue: [ticket(5, { waited_secs: 10 }), ticket(6, { waited_secs: 99 })], queueSeenAt: NOW, conversations: [b, gone, a] });
    expect(nextConversation(items, undefined)).toBe(a);
    expect(nextConversation(items, a)).toBe(b);
    expect(nextConversation(items, b)).toBe(a);
    expect(nextToAccept(items)?.ticket_id).toBe(6);
    const offered = workList({ offers: [{ ticket: ticket(7, { waited_secs: 1 }), expiresAt: 0, seenAt: NOW }], queue: [], queueSeenAt: 0, conversations: [] });
    expect(nextToAccept(offered)?.ticket_id).toBe(7);
    expect(nextToAccept([])).toBeUndefined();
    expect(nextConversation([], undefined)).toBeUndefined();
  });
});
