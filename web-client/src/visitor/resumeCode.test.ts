import { describe, expect, it } from "vitest";

import { decodeResumeCode, encodeResumeCode } from "./resumeCode";

describe("resume codes", () => {
  it("round-trips secrets, in groups of four without confusable letters", () => {
    for (let i = 0; i < 200; i++) {
      const secret = crypto.getRandomValues(new Uint8Array(16));
      const code = encodeResumeCode(secret);
      expect(code).toMatch(/^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{1,4}){6}$/);
      expect(decodeResumeCode(code)).toEqual(secret);
    }
    expect(encodeResumeCode(new Uint8Array(16))).toBe("0000-0000-0000-0000-0000-0000-00");
  });

  it("reads a code as a person writes it", () => {
    const secret = Uint8Array.from({ length: 16 }, (_, i) => i * 17);
    const code = encodeResumeCode(secret);
    const sloppy = code.toLowerCase().replace(/-/g, " ").replace(/0/g, "o").replace(/1/g, "l");
    expect(decodeResumeCode(sloppy)).toEqual(secret);
  });

  it("refuses what is not a code", () => {
    expect(decodeResumeCode("")).toBeUndefined();
    expect(decodeResumeCode("ABCD")).toBeUndefined();
    expect(decodeResumeCode("UUUU-UUUU-UUUU-UUUU-UUUU-UUUU-UU")).toBeUndefined();
    // Non-zero padding bits: a different spelling of some secret, refused.
    expect(decodeResumeCode("0000-0000-0000-0000-0000-0000-01")).toBeUndefined();
  });
});
