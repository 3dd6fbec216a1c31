import { render } from "preact-render-to-string";
import { afterEach, describe, expect, it } from "vitest";

import { setConsoleLanguage } from "../i18n/console";

import { ME, bytes, ticket } from "../testing/console";
import { conversationOf, staffStub, stateWith, textOf } from "../testing/screens";
import { hex } from "../util/hex";
import { ConsoleScreen } from "./Console";

const screen = (state = stateWith(), staff = staffStub()) => render(<ConsoleScreen console={staff} state={state} onLogout={() => {}} onLanguage={() => {}} />);

afterEach(() => setConsoleLanguage("en"));

describe("the console screen", () => {
  it("the bar: who I am, my shift pressed, and no board for a counsellor", () => {
    const html = screen(stateWith({ shift: "on_break" }));
    const text = textOf(html);
    expect(text).toContain("Ana (counsellor)");
    expect(html).toMatch(/aria-pressed="true"[^>]*>On break</);
    expect(html).toMatch(/aria-pressed="false"[^>]*>Available</);
    expect(text).not.toContain("Supervisor board");
    expect(text).not.toContain("disconnected");
  });

  it("a supervisor has the board; a dropped socket shows", () => {
    const text = textOf(screen(stateWith({ me: { ...ME, role: "supervisor" }, connected: false })));
    expect(text).toContain("Supervisor board");
    expect(text).toContain("· disconnected");
  });

  it("lists conversations with urgency, unread and the one on view", () => {
    const a = conversationOf({ groupId: bytes(1), ticket: ticket(4, { urgent: true }), unread: 2 });
    const b = conversationOf({ groupId: bytes(2), kind: "peer", title: "Peer group", ended: true });
    const html = screen(stateWith({ conversations: [a, b] }), staffStub({ activeGroup: hex(bytes(2)) }));
    const text = textOf(html);
    expect(text).toContain("URGENT Health and HIV · Macedonian");
    expect(text).not.toMatch(/#4|· mk ·|health ·/);
    expect(html).toContain('aria-label="2 unread"');
    expect(text).toMatch(/Peer group No messages yet ended/);
    expect(html.match(/aria-current="true"/g)).toHaveLength(1);
    // The ended peer group is on view: its pane offers removing it.
    expect(text).toContain("Remove from the list");
  });

  it("without a conversation on view, says what to do; a problem is shown as an alert", () => {
    const html = screen(stateWith({ problem: "An intake step failed: x" }));
    expect(textOf(html)).toContain("Pick a chat, or accept one that is offered to you.");
    expect(html).toMatch(/role="alert"[^>]*>An intake step failed: x</);
  });

  it("team messages waiting can be taken; the crisis queue shows only to a responder on duty", () => {
    const waiting = stateWith({ teamMessages: [{ group_id: bytes(5), language: "sq", left_at: 0 }] });
    expect(textOf(screen(waiting))).toContain("Messages left for the team");
    const responder = { ...ME, role: "crisis_responder" as const };
    expect(textOf(screen(stateWith({ me: responder, duty: "off_duty" })))).not.toContain("Escalations (");
    expect(textOf(screen(stateWith({ me: responder, duty: "on_duty" })))).toContain("Escalations (0)");
  });

  it("has one <h1>, shows the shift state after login, and the keyboard help", () => {
    const html = screen(stateWith());
    expect(html.match(/<h1/g)).toHaveLength(1);
    const text = textOf(html);
    expect(text).toContain("Your shift: Clocked in (no offers)");
    expect(text).toContain("Press “Available” to get new chats.");
    expect(text).toContain("Alt+N next chat · Alt+A accept · Alt+C close · Alt+R canned reply");
  });

  it("lists a ticket offered to me once, not again under the queue, and one in a chat only as the chat", () => {
    const offered = ticket(7, { language: "sq", topic: "police_legal", waited_secs: 120 });
    const mine = ticket(8);
    const state = stateWith({
      offers: [{ ticket: offered, expiresAt: Date.now() + 30_000, seenAt: Date.now() }],
      queue: [offered, mine, ticket(9, { topic: "just_talk" })],
      queueSeenAt: Date.now(),
      conversations: [conversationOf({ groupId: bytes(3), ticket: mine })],
    });
    const html = screen(state);
    expect(html.match(/class="work-item /g)).toHaveLength(3);
    expect(html.match(/Police or legal · Albanian/g)).toHaveLength(1);
    expect(textOf(html)).toContain("Offered to you · waiting 2 min");
    expect(textOf(html)).not.toContain("police_legal");
  });

  it("speaks Macedonian when the counsellor picks it", () => {
    setConsoleLanguage("mk");
    const offered = ticket(7, { topic: "health", language: "mk" });
    const text = textOf(screen(stateWith({ shift: "available", offers: [{ ticket: offered, expiresAt: 0, seenAt: Date.now() }] })));
    expect(text).toContain("Конзола за советници");
    expect(text).toContain("Твојата смена: Примам разговори");
    expect(text).toContain("Здравје и ХИВ · македонски");
    expect(text).toContain("Прифати");
    expect(text).not.toMatch(/Available|Accept|Log out/);
  });
});
