import { render } from "preact-render-to-string";
import { describe, expect, it } from "vitest";

import { ME, bytes, ticket } from "../testing/console";
import { conversationOf, staffStub, stateWith, textOf } from "../testing/screens";
import { hex } from "../util/hex";
import { ConsoleScreen } from "./Console";

const screen = (state = stateWith(), staff = staffStub()) => render(<ConsoleScreen console={staff} state={state} onLogout={() => {}} />);

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
    expect(text).toContain("URGENT #4 · mk · health");
    expect(html).toContain('aria-label="2 unread"');
    expect(text).toContain("Peer group (ended)");
    expect(html.match(/aria-current="true"/g)).toHaveLength(1);
    // The ended peer group is on view: its pane offers removing it.
    expect(text).toContain("Remove from the list");
  });

  it("without a conversation on view, says what to do; a problem is shown as an alert", () => {
    const html = screen(stateWith({ problem: "An intake step failed: x" }));
    expect(textOf(html)).toContain("Pick a conversation, accept an offer, or take a ticket from the queue.");
    expect(html).toMatch(/role="alert"[^>]*>An intake step failed: x</);
  });

  it("team messages waiting can be taken; the crisis queue shows only to a responder on duty", () => {
    const waiting = stateWith({ teamMessages: [{ group_id: bytes(5), language: "sq", left_at: 0 }] });
    expect(textOf(screen(waiting))).toContain("Messages left for the team");
    const responder = { ...ME, role: "crisis_responder" as const };
    expect(textOf(screen(stateWith({ me: responder, duty: "off_duty" })))).not.toContain("Escalations (");
    expect(textOf(screen(stateWith({ me: responder, duty: "on_duty" })))).toContain("Escalations (0)");
  });
});
