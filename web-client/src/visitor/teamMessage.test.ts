import { describe, expect, it } from "vitest";

import { ServerError } from "../net/connection";
import type { Help } from "../protocol";
import { en } from "../i18n/en";
import { mk } from "../i18n/mk";
import { sq } from "../i18n/sq";
import { outcomeOfDelivery, outcomeOfRefusal } from "./teamMessage";

const help: Help = { crisis_lines: [{ name: "SOS line", number: "0800 11111", hours: "24/7" }] };
const otherHelp: Help = { crisis_lines: [{ name: "Emergency", number: "112", hours: "24/7" }] };

describe("what the visitor is told after leaving a team message", () => {
  it('says "sent" only when at least one current key received it', () => {
    expect(outcomeOfDelivery(1, help)).toEqual({ kind: "sent", deliveredTo: 1 });
    expect(outcomeOfDelivery(3, help)).toEqual({ kind: "sent", deliveredTo: 3 });
  });

  it("says it could not be delivered, with the crisis lines, when no key received it", () => {
    expect(outcomeOfDelivery(0, help)).toEqual({ kind: "undelivered", crisisLines: help.crisis_lines });
    // A malformed count is never taken for "sent".
    expect(outcomeOfDelivery(Number.NaN, help).kind).toBe("undelivered");
    expect(outcomeOfDelivery(-1, undefined)).toEqual({ kind: "undelivered", crisisLines: [] });
  });

  it("turns the server's no_counsellor_available into undelivered, preferring the refusal's lines", () => {
    const refusal = new ServerError({ type: "error", id: 4, code: "no_counsellor_available", message: "nobody", help: otherHelp });
    expect(outcomeOfRefusal(refusal, help)).toEqual({ kind: "undelivered", crisisLines: otherHelp.crisis_lines });
    const bare = new ServerError({ type: "error", id: 4, code: "no_counsellor_available", message: "nobody" });
    expect(outcomeOfRefusal(bare, help)).toEqual({ kind: "undelivered", crisisLines: help.crisis_lines });
  });

  it("leaves other failures to the caller's error message", () => {
    expect(outcomeOfRefusal(new ServerError({ type: "error", id: 4, code: "rate_limited", message: "slow down" }), help)).toBeUndefined();
    expect(outcomeOfRefusal(new Error("socket closed"), help)).toBeUndefined();
  });

  it("has the undelivered and rescue texts in every language", () => {
    for (const catalogue of [en, mk, sq]) {
      expect(catalogue["closed.messageUndelivered"].length).toBeGreaterThan(20);
      expect(catalogue["closed.messageUndelivered"]).not.toEqual(catalogue["closed.messageSent"]);
      expect(catalogue["chat.rescued"].length).toBeGreaterThan(20);
    }
  });
});
