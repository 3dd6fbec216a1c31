import { encode } from "@msgpack/msgpack";
import { describe, expect, it } from "vitest";

import { writeMsgpack } from "./msgpackWrite";

// Every form at its boundaries, against the general-purpose library the
// console still uses (the frames themselves are checked against the Rust
// vectors in vectors.test.ts).
const SAMPLES: unknown[] = [
  null,
  true,
  false,
  0,
  127,
  128,
  255,
  256,
  65535,
  65536,
  2 ** 32 - 1,
  2 ** 32,
  2 ** 53 - 1,
  -1,
  -32,
  -33,
  -128,
  -129,
  -32768,
  -32769,
  -(2 ** 31),
  -(2 ** 31) - 1,
  "",
  "a".repeat(31),
  "a".repeat(32),
  "ж".repeat(200),
  "a".repeat(65536),
  new Uint8Array(0),
  new Uint8Array(255),
  new Uint8Array(256),
  new Uint8Array(70000),
  [],
  Array.from({ length: 15 }, (_, i) => i),
  Array.from({ length: 16 }, (_, i) => i),
  {},
  Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`k${i}`, i])),
  { op: "send_message", id: 7, nested: { list: [1, "two", new Uint8Array([3])], flag: true } },
];

describe("the frame MessagePack writer", () => {
  it.each(SAMPLES.map((s, i) => [i, s]))("writes sample %i as @msgpack/msgpack does", (_, sample) => {
    expect(writeMsgpack(sample)).toEqual(encode(sample));
  });

  it("refuses what frames never carry", () => {
    expect(() => writeMsgpack(1.5)).toThrow(RangeError);
    expect(() => writeMsgpack(() => 1)).toThrow(TypeError);
  });
});
