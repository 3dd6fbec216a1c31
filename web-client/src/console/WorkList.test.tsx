import { render } from "preact-render-to-string";
import { afterEach, describe, expect, it } from "vitest";

import { setConsoleLanguage } from "../i18n/console";
import { bytes, ticket } from "../testing/console";
import { conversationOf, staffStub, textOf } from "../testing/screens";
import { WorkList } from "./WorkList";
import { workList } from "./worklist";

const NOW = 10_000_000;
afterEach(() => setConsoleLanguage("en"));

const list = (input: Parameters<typeof workList>[0]) =>
  render(<WorkList items={workList(input)} staff={staffStub()} act={() => {}} queueDepth={input.queue.length} now={NOW} />);

describe("the work list on screen", () => {
  it("a conversation row: topic and language, last message, time since she wrote, unread", () => {
    const c = conversationOf({
      groupId: bytes(2),
      ticket: ticket(5370, { topic: "police_legal", language: "sq" }),
      unread: 2,
      lastTheirsAt: NOW - 180_000,
      lines: [{ kind: "theirs", id: 1, text: "They took my papers", from: "Visitor" }],
    });
    const html = list({ offers: [], queue: [], queueSeenAt: NOW, conversations: [c] });
    const text = textOf(html);
    expect(text).toContain("Police or legal · Albanian 2 They took my papers wrote 3 min ago");
    expect(html).toContain('class="waiting"');
    expect(text).not.toMatch(/5370|police_legal|· sq/);
  });

  it("an answered chat says so; my last line is marked as mine; a long message is cut", () => {
    const c = conversationOf({
      lastTheirsAt: NOW - 60_000,
      lastMineAt: NOW - 30_000,
      lines: [{ kind: "mine", id: 1, text: "x".repeat(200), delivery: "sent" }],
    });
    const text = textOf(list({ offers: [], queue: [], queueSeenAt: NOW, conversations: [c] }));
    expect(text).toContain(`You: ${"x".repeat(80)}…`);
    expect(text).toContain("wrote 1 min ago · answered");
  });

  it("offers have Accept and Decline, waiting tickets Take; the heading counts who waits", () => {
    const html = list({
      offers: [{ ticket: ticket(1, { urgent: true, waited_secs: 30 }), expiresAt: 0, seenAt: NOW }],
      queue: [ticket(2, { handover: true, waited_secs: 90 })],
      queueSeenAt: NOW,
      conversations: [],
    });
    const text = textOf(html);
    expect(text).toContain("Chats · 2 people waiting");
    expect(text).toContain("URGENT · Health and HIV · Macedonian Offered to you · waiting 30s Accept Decline");
    expect(text).toContain("Waiting · waiting 1 min · hand-over Take");
  });

  it("in Albanian, with nobody waiting", () => {
    setConsoleLanguage("sq");
    const text = textOf(list({ offers: [], queue: [], queueSeenAt: NOW, conversations: [] }));
    expect(text).toContain("Bisedat · askush nuk pret");
    expect(text).toContain("Askush nuk pret dhe nuk ke biseda.");
  });
});
