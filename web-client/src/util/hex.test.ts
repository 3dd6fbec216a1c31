import { describe, expect, it } from "vitest";

import { fromHex, hex, hexBytes } from "./hex";

describe("hex", () => {
  it("writes two lowercase digits a byte", () => {
    expect(hex(new Uint8Array([0, 1, 0xab, 0xff]))).toBe("0001abff");
    expect(hex(new Uint8Array())).toBe("");
  });

  it("reads back what it wrote", () => {
    const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
    expect(fromHex(hex(bytes))).toEqual(bytes);
    expect(fromHex("ABcd")).toEqual(new Uint8Array([0xab, 0xcd]));
  });

  it("refuses odd lengths and non-hex in strict mode", () => {
    expect(() => fromHex("abc")).toThrow(/not hex/);
    expect(() => fromHex("zz")).toThrow(/not hex/);
  });

  it("reads pairs leniently for typed keys (the caller checks the length)", () => {
    expect(hexBytes("0a0b0")).toEqual(new Uint8Array([0x0a, 0x0b]));
    expect(hexBytes("")).toEqual(new Uint8Array());
  });
});
