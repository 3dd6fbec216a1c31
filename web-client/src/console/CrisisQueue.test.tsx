import { render } from "preact-render-to-string";
import { describe, expect, it } from "vitest";

import type { EscalationEntry } from "../protocol";
import { ME, bytes } from "../testing/console";
import { staffStub, stateWith, textOf } from "../testing/screens";
import { Escalations } from "./CrisisQueue";

const entry = (id: number, patch: Partial<EscalationEntry> = {}): EscalationEntry => ({
  escalation_id: id,
  status: "open",
  request: { group_id: bytes(id), severity: "critical", category: "trafficking", issued_at: 0, signature: new Uint8Array(64) },
  language: "mk",
  counsellor: ME.badge,
  waited_secs: 90,
  ...patch,
});

describe("crisis responder's queue", () => {
  it("marks a request whose signature does not verify and cannot accept it", () => {
    const state = stateWith({
      escalations: [
        { entry: entry(1), check: "verified" },
        { entry: entry(2), check: "bad_signature" },
      ],
    });
    const html = render(<Escalations state={state} staff={staffStub()} act={() => {}} />);
    const text = textOf(html);
    expect(text).toContain("Escalations (2)");
    expect(text).toContain("Critical · Trafficking · Macedonian · waiting 1 min · from Ana (signature verified)");
    expect(text).toContain("(NOT verified: do not trust)");
    const buttons = html.match(/<button[^>]*>\s*Accept/g) ?? [];
    expect(buttons).toHaveLength(2);
    expect(buttons[0]).not.toContain("disabled");
    expect(buttons[1]).toContain("disabled");
  });

  it("one accepted by me opens instead of accepting", () => {
    const me = { ...ME.badge, signature_key: bytes(0xcc, 32) };
    const state = stateWith({ escalations: [{ entry: entry(1, { status: "accepted", responder: me }), check: "verified" }] });
    const text = textOf(render(<Escalations state={state} staff={staffStub()} act={() => {}} />));
    expect(text).toContain("Open");
    expect(text).not.toContain("Accept");
  });

  it("says when none is waiting", () => {
    expect(textOf(render(<Escalations state={stateWith()} staff={staffStub()} act={() => {}} />))).toContain("No escalation is waiting.");
  });
});
