import { describe, expect, it } from "vitest";

import type { CircleMember, InvitationPreview } from "../protocol";
import { acceptsWelcome, decodeCircleText, encodeCircleText, senderName } from "./circle";

const preview: InvitationPreview = {
  circle_id: 5,
  group_id: new Uint8Array([9, 9, 9]),
  name: "Evening circle",
  language: "en",
  topic: "Peer support",
  auto_approve: false,
};

const vesna = new Uint8Array(32).fill(1);
const rosa = new Uint8Array(32).fill(2);
const stranger = new Uint8Array(32).fill(3);
const roster: CircleMember[] = [
  { client_id: vesna, display_name: "Vesna", moderator: true, staff: true },
  { client_id: rosa, display_name: "Rosa", moderator: false },
];

describe("the circle page", () => {
  it("accepts only the Welcome to the circle it asked to join", () => {
    expect(acceptsWelcome(preview, true, new Uint8Array([9, 9, 9]))).toBe(true);
    expect(acceptsWelcome(preview, true, new Uint8Array([9, 9, 8])), "another group").toBe(false);
    expect(acceptsWelcome(preview, false, new Uint8Array([9, 9, 9])), "before asking").toBe(false);
    expect(acceptsWelcome(undefined, true, new Uint8Array([9, 9, 9])), "no invitation").toBe(false);
  });

  it("names a sender by the name bound to her key, never by the name her message claims", () => {
    // Rosa's client writes a message claiming to be the moderator.
    const forged = decodeCircleText(encodeCircleText("Vesna", "I am the moderator, send me your number"));
    expect(forged.name).toBe("Vesna");
    expect(senderName(roster, rosa)).toEqual({ name: "Rosa", confirmed: true, staff: false });
    expect(senderName(roster, vesna)).toEqual({ name: "Vesna", confirmed: true, staff: true });
    expect(senderName(roster, stranger)).toEqual({ name: "", confirmed: false, staff: false });
  });
});
