import { describe, expect, it } from "vitest";

import { formatInvitationCode, normalizeInvitationCode } from "./circle";

// The same cases as protocol/src/circle.rs.
describe("invitation codes", () => {
  it("are read as typed: case, spaces and dashes do not matter, look-alikes map", () => {
    expect(normalizeInvitationCode("abcd-efgh-jkmn")).toBe("ABCDEFGHJKMN");
    expect(normalizeInvitationCode("o1il 2345 6789")).toBe("011123456789");
  });

  it("are refused when they cannot be codes", () => {
    expect(normalizeInvitationCode("ABCD-EFGH-JKM")).toBeUndefined();
    expect(normalizeInvitationCode("ABCD-EFGH-JKMU")).toBeUndefined();
    expect(normalizeInvitationCode("ÄBCD-EFGH-JKMN")).toBeUndefined();
  });

  it("are shown in groups of four", () => {
    expect(formatInvitationCode("7K3MQ9ZP2XHD")).toBe("7K3M-Q9ZP-2XHD");
  });
});
