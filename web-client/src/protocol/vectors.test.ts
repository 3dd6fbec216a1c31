// The golden vectors of protocol/tests/vectors/, checked here exactly as the
// Rust crate checks them, so the TypeScript and Rust codecs cannot drift.

import { readFileSync, readdirSync } from "node:fs";

import { decode as referenceDecode } from "@msgpack/msgpack";
import { describe, expect, it } from "vitest";

import {
  type ClientFrame,
  type ServerFrame,
  PROTOCOL_VERSION,
  decodeClientFrame,
  decodeServerFrame,
  encodeClientFrame,
  encodeServerFrame,
} from "./index";
import { fromHex, toHex } from "../testing/hex";

const VECTOR_DIR = new URL("../../../protocol/tests/vectors/", import.meta.url);

interface ValidVector {
  name: string;
  direction: "client_to_server" | "server_to_client";
  hex: string;
  value: unknown;
}

interface InvalidVector {
  name: string;
  direction: "client_to_server" | "server_to_client";
  hex: string;
  error: string;
  request_id: number | null;
}

function load<T>(file: string): { protocol_version: number; vectors: T[] } {
  return JSON.parse(readFileSync(new URL(file, VECTOR_DIR), "utf8"));
}

const valid = load<ValidVector>("frames.json");
// Every file of invalid/ (one per kind of fault), as the Rust test reads them.
const invalidFiles = readdirSync(new URL("invalid/", VECTOR_DIR))
  .filter((name) => name.endsWith(".json"))
  .sort()
  .map((name) => ({ name, ...load<InvalidVector>(`invalid/${name}`) }));
const invalid = invalidFiles.flatMap((file) => file.vectors.map((v) => ({ ...v, file: file.name })));

/** JSON meaning (`{"$bin": hex}` for bytes) → JavaScript value with Uint8Array. */
function fromMeaning(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(fromMeaning);
  if (v !== null && typeof v === "object") {
    const entries = Object.entries(v);
    if (entries.length === 1 && entries[0]?.[0] === "$bin") return fromHex(entries[0][1] as string);
    return Object.fromEntries(entries.map(([k, x]) => [k, fromMeaning(x)]));
  }
  return v;
}

/** The inverse: what a decoded frame means, in the vectors' JSON form. */
function toMeaning(v: unknown): unknown {
  if (v instanceof Uint8Array) return { $bin: toHex(v) };
  if (Array.isArray(v)) return v.map(toMeaning);
  if (v !== null && typeof v === "object") {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toMeaning(x)]));
  }
  return v;
}

describe("golden vectors", () => {
  it("are for this protocol version and cover both directions", () => {
    expect(valid.protocol_version).toBe(PROTOCOL_VERSION);
    for (const file of invalidFiles) expect(file.protocol_version, file.name).toBe(PROTOCOL_VERSION);
    const directions = new Set(valid.vectors.map((v) => v.direction));
    expect(directions).toEqual(new Set(["client_to_server", "server_to_client"]));
    expect(valid.vectors.length).toBeGreaterThanOrEqual(30);
    expect(invalid.length).toBeGreaterThanOrEqual(25);
    expect(new Set(invalid.map((v) => v.direction))).toEqual(new Set(["client_to_server", "server_to_client"]));
  });

  describe.each(valid.vectors.map((v) => [v.name, v] as const))("valid %s", (_name, vector) => {
    const bytes = fromHex(vector.hex);

    it("decodes to its value", () => {
      const decoded = vector.direction === "client_to_server" ? decodeClientFrame(bytes) : decodeServerFrame(bytes);
      if (!decoded.ok) throw new Error(`rejected: ${decoded.error.code}: ${decoded.error.message}`);
      expect(toMeaning(decoded.frame)).toEqual(vector.value);
    });

    it("encodes from its value to exactly its bytes", () => {
      const frame = fromMeaning(vector.value);
      const encoded =
        vector.direction === "client_to_server"
          ? encodeClientFrame(frame as ClientFrame)
          : encodeServerFrame(frame as ServerFrame);
      expect(toHex(encoded)).toBe(vector.hex);
    });

    it("means the same to the reference MessagePack decoder", () => {
      // Guards the hand-written strict reader against misreading valid input.
      const reference = referenceDecode(bytes, { useBigInt64: false });
      expect(toMeaning(reference)).toEqual(vector.value);
    });
  });

  describe.each(invalid.map((v) => [`${v.file} ${v.name}`, v] as const))("invalid %s", (_name, vector) => {
    it("is rejected with the server's code and request id", () => {
      const bytes = fromHex(vector.hex);
      const decoded = vector.direction === "client_to_server" ? decodeClientFrame(bytes) : decodeServerFrame(bytes);
      expect(decoded.ok).toBe(false);
      if (decoded.ok) return;
      expect(decoded.error.code).toBe(vector.error);
      expect(decoded.error.requestId).toBe(vector.request_id ?? undefined);
    });
  });
});
