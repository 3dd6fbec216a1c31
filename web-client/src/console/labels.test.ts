import { afterEach, describe, expect, it } from "vitest";

import { setConsoleLanguage } from "../i18n/console";
import { ticket } from "../testing/console";
import { conversationOf } from "../testing/screens";
import { conversationTitle, lastMessage, ticketSummary } from "./labels";

afterEach(() => setConsoleLanguage("en"));

describe("names in the console", () => {
  it("a chat is its topic and language in words, never a ticket number or a code", () => {
    const c = conversationOf({ ticket: ticket(5370, { language: "sq", topic: "police_legal" }), title: "#5370 · sq · police_legal" });
    expect(conversationTitle(c)).toBe("Police or legal · Albanian");
    setConsoleLanguage("sq");
    expect(conversationTitle(c)).toBe("Policia ose çështje ligjore · shqip");
    setConsoleLanguage("mk");
    expect(ticketSummary({ topic: "health", language: "mk" })).toBe("Здравје и ХИВ · македонски");
  });

  it("a deployment's own topic without a label reads as words", () => {
    expect(ticketSummary({ topic: "housing_rights", language: "de" })).toBe("Housing rights · DE");
  });

  it("notes, team messages and peer groups are named by what they are", () => {
    expect(conversationTitle(conversationOf({ kind: "note", title: "note" }))).toBe("Hand-over note or group");
    expect(conversationTitle(conversationOf({ kind: "note", title: "Note to Besa" }))).toBe("Note to Besa");
    expect(conversationTitle(conversationOf({ kind: "team", title: "team" }))).toBe("Message left for the team");
    expect(conversationTitle(conversationOf({ kind: "peer", title: "Night team" }))).toBe("Night team");
  });

  it("the preview is the newest message, not a system line", () => {
    const c = conversationOf({
      lines: [
        { kind: "theirs", id: 1, text: "hello", from: "Visitor" },
        { kind: "mine", id: 2, text: "hi", delivery: "sent" },
        { kind: "system", id: 3, text: "The visitor's connection dropped" },
      ],
    });
    expect(lastMessage(c)).toEqual({ text: "hi", mine: true });
    expect(lastMessage(conversationOf({}))).toBeUndefined();
  });
});
