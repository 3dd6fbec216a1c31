import { render } from "preact-render-to-string";
import { describe, expect, it } from "vitest";

import { ticket } from "../testing/console";
import { conversationOf, staffStub, textOf } from "../testing/screens";
import { ConversationPane } from "./ConversationPane";

const pane = (patch: Parameters<typeof conversationOf>[0]) =>
  render(<ConversationPane staff={staffStub()} conversation={conversationOf(patch)} closingTags={["support"]} act={() => {}} />);

describe("ConversationPane", () => {
  it("shows each line by kind, with my lines' delivery state", () => {
    const html = pane({
      ticket: ticket(4, { urgent: true }),
      lines: [
        { kind: "system", id: 1, text: "The visitor was added to the chat." },
        { kind: "theirs", id: 2, text: "hello", from: "Visitor" },
        { kind: "mine", id: 3, text: "hi", delivery: "sending" },
        { kind: "mine", id: 4, text: "there", delivery: "failed" },
      ],
    });
    expect(html).toContain('class="line system"');
    expect(html).toMatch(/class="line theirs"><small class="from">Visitor<\/small><span class="text">hello/);
    expect(html).toContain('data-delivery="sending"');
    const text = textOf(html);
    expect(text).toContain("Health and HIV · Macedonian Urgent");
    expect(text).toContain("hi Sending…");
    expect(text).toContain("there Not sent");
  });

  it("a live chat has the composer, canned responses and the chat's actions", () => {
    const text = textOf(pane({ ticket: ticket(4) }));
    expect(text).toContain("Send");
    expect(text).toContain("Canned response (Macedonian)");
    for (const action of ["Transfer", "Close", "Block", "Escalate"]) expect(text).toContain(action);
  });

  it("an SOS shows until an escalation is under way", () => {
    expect(textOf(pane({ sosAlert: true }))).toContain("I'm in danger now");
    const escalation = { escalation_id: 1, status: "open" as const, request: { group_id: new Uint8Array(16), severity: "high" as const, category: "violence" as const, issued_at: 0, signature: new Uint8Array(64) }, language: "mk", counsellor: { display_name: "Ana", role: "counsellor" as const, signature_key: new Uint8Array(32), expires_at: 0, attestation: new Uint8Array(64) }, waited_secs: 0 };
    const text = textOf(pane({ sosAlert: true, escalation }));
    expect(text).not.toContain("I'm in danger now");
    expect(text).toContain("Escalation open (High · Violence)");
    // One escalation at a time.
    expect(text).not.toContain("Escalate");
  });

  it("a chat not joined yet has no composer; an ended one can only be removed from the list", () => {
    expect(textOf(pane({ joined: false }))).not.toContain("Send");
    const ended = textOf(pane({ ended: true }));
    expect(ended).toContain("Remove from the list");
    expect(ended).not.toContain("Transfer");
    expect(ended).not.toContain("Send");
  });

  it("shows the visitor typing and her presence in a live chat", () => {
    const text = textOf(pane({ visitorTyping: true, presence: "reconnecting" }));
    expect(text).toContain("The visitor is typing…");
    expect(text).toContain("visitor reconnecting…");
    expect(textOf(pane({ ended: true, presence: "left" }))).not.toContain("visitor left");
  });
});
