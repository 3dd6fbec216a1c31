import { render } from "preact-render-to-string";
import { describe, expect, it } from "vitest";

import { ticket } from "../testing/console";
import { staffStub, stateWith, textOf } from "../testing/screens";
import { Offers, Queue } from "./Offers";

describe("Offers", () => {
  it("shows nothing without offers", () => {
    expect(render(<Offers state={stateWith()} staff={staffStub()} act={() => {}} />)).toBe("");
  });

  it("lists each offer with urgency, wait and hand-over, and its two choices", () => {
    const offers = [
      { ticket: ticket(1, { urgent: true, waited_secs: 125 }), expiresAt: 0 },
      { ticket: ticket(2, { language: "sq", topic: "violence", handover: true }), expiresAt: 0 },
    ];
    const text = textOf(render(<Offers state={stateWith({ offers })} staff={staffStub()} act={() => {}} />));
    expect(text).toContain("URGENT · mk · health · waited 2 min");
    expect(text).toContain("sq · violence · waited 30s · hand-over");
    expect(text.match(/Accept/g)).toHaveLength(2);
    expect(text.match(/Decline/g)).toHaveLength(2);
  });
});

describe("Queue", () => {
  it("says when nobody is waiting", () => {
    expect(textOf(render(<Queue queue={[]} depth={0} onTake={() => {}} />))).toContain("Nobody is waiting.");
  });

  it("lists waiting tickets with the depth", () => {
    const html = render(<Queue queue={[ticket(7, { waited_secs: 61 })]} depth={1} onTake={() => {}} />);
    const text = textOf(html);
    expect(text).toContain("Queue (1)");
    expect(text).toContain("1 min");
  });
});
