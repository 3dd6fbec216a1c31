// Strictness of the decoder beyond the shared vectors: the cases where a
// lenient MessagePack library would accept what the Rust server rejects, and
// a check that no input makes a decoder throw.

import { encode } from "@msgpack/msgpack";
import { describe, expect, it } from "vitest";

import {
  type ClientFrame,
  type ServerFrame,
  decodeClientFrame,
  decodeServerFrame,
  encodeClientFrame,
  encodeServerFrame,
} from "./index";
import { MAX_DEPTH, readExact } from "./msgpack";
import { fromHex, toHex } from "../testing/hex";

const ping = (id: number): ClientFrame => ({ v: 1, id, req: { op: "ping" } });

function rejected(bytes: Uint8Array) {
  const r = decodeServerFrame(bytes);
  if (r.ok) throw new Error("accepted");
  return r.error;
}

describe("client frame decoding", () => {
  it("round-trips every operation", () => {
    const b = (n: number, fill: number) => new Uint8Array(n).fill(fill);
    const frames: ClientFrame[] = [
      { v: 1, id: 1, req: { op: "authenticate", proof: { method: "ed25519_challenge", public_key: b(32, 1), signature: b(64, 2) } } },
      { v: 1, id: 2, req: { op: "publish_key_packages", key_packages: [b(3, 3)], replace: true } },
      { v: 1, id: 3, req: { op: "publish_key_packages", key_packages: [] } },
      { v: 1, id: 4, req: { op: "claim_key_package", client_id: b(32, 4) } },
      { v: 1, id: 5, req: { op: "create_group", group_info: b(5, 5), ratchet_tree: b(6, 6) } },
      { v: 1, id: 6, req: { op: "send_commit", commit: b(7, 7), ratchet_tree: b(9, 9) } },
      { v: 1, id: 7, req: { op: "send_message", message: b(100_000, 10) } },
      { v: 1, id: 8, req: { op: "subscribe", after: 3 } },
      { v: 1, id: 9, req: { op: "fetch_backlog", after: 0, limit: 10 } },
      { v: 1, id: 10, req: { op: "ack", up_to: 2 ** 32 + 5 } },
      { v: 1, id: 11, req: { op: "list_groups" } },
      ping(Number.MAX_SAFE_INTEGER),
    ];
    for (const frame of frames) {
      const decoded = decodeClientFrame(encodeClientFrame(frame));
      expect(decoded).toEqual({ ok: true, frame });
    }
  });

  it("sends `replace` only when true, and reads an explicit false as absent", () => {
    const withFalse = encodeClientFrame({ v: 1, id: 1, req: { op: "publish_key_packages", key_packages: [], replace: false } });
    const without = encodeClientFrame({ v: 1, id: 1, req: { op: "publish_key_packages", key_packages: [] } });
    expect(toHex(withFalse)).toBe(toHex(without));
    const explicit = encode({ v: 1, id: 1, req: { op: "publish_key_packages", key_packages: [], replace: false } });
    expect(decodeClientFrame(explicit)).toEqual({ ok: true, frame: { v: 1, id: 1, req: { op: "publish_key_packages", key_packages: [] } } });
  });

  it("keeps the request id of an oversize frame", () => {
    const bytes = encodeClientFrame({ v: 1, id: 7, req: { op: "send_message", message: new Uint8Array(2000) } });
    const r = decodeClientFrame(bytes, 1000);
    expect(r).toMatchObject({ ok: false, error: { code: "frame_too_large", requestId: 7 } });
  });

  it("rejects garbage without an id", () => {
    for (const hex of ["", "c1", "ffffff", "93010203"]) {
      const r = decodeClientFrame(fromHex(hex));
      expect(r.ok).toBe(false);
      if (!r.ok) {
        expect(r.error.code).toBe("malformed_frame");
        expect(r.error.requestId).toBeUndefined();
      }
    }
  });

  it("rejects a float where an integer belongs, as rmp-serde does", () => {
    // {v: 1.0, id: 1, req: {op: ping}} with v as float64.
    const bytes = fromHex("83a176cb3ff0000000000000a26964" + "01" + "a372657181a26f70a470696e67");
    const r = decodeClientFrame(bytes);
    expect(r).toMatchObject({ ok: false, error: { code: "malformed_frame" } });
  });

  it("rejects a repeated field instead of keeping the last one", () => {
    // {v:1, id:1, id:2, req:{op:ping}}
    const bytes = fromHex("84a17601a2696401a2696402a372657181a26f70a470696e67");
    expect(decodeClientFrame(bytes).ok).toBe(false);
  });

  it("ignores unknown fields, as serde does", () => {
    const bytes = encode({ v: 1, id: 4, extra: "x", req: { op: "ping", more: [1, 2] } });
    expect(decodeClientFrame(bytes)).toEqual({ ok: true, frame: ping(4) });
  });

  it("rejects ids the protocol never uses (2^53 and above, negative)", () => {
    const big = fromHex("83a17601a26964cf0020000000000000a372657181a26f70a470696e67");
    expect(decodeClientFrame(big)).toMatchObject({ ok: false, error: { code: "malformed_frame" } });
    const negative = encode({ v: 1, id: -1, req: { op: "ping" } });
    expect(decodeClientFrame(negative)).toMatchObject({ ok: false, error: { code: "malformed_frame" } });
  });

  it("rejects an out-of-range u32 and a wrong byte-string type", () => {
    const limit = encode({ v: 1, id: 1, req: { op: "fetch_backlog", after: 0, limit: 2 ** 32 } });
    expect(decodeClientFrame(limit)).toMatchObject({ ok: false, error: { code: "malformed_frame", requestId: 1 } });
    const strKey = encode({ v: 1, id: 2, req: { op: "claim_key_package", client_id: "abc" } });
    expect(decodeClientFrame(strKey)).toMatchObject({ ok: false, error: { code: "malformed_frame", requestId: 2 } });
  });

  it("rejects deep nesting without overflowing", () => {
    const bytes = new Uint8Array(100_004 + 8);
    bytes.set(fromHex("82a17601a3726571"));
    bytes.fill(0x91, 8, 8 + 100_000);
    expect(decodeClientFrame(bytes)).toMatchObject({ ok: false, error: { code: "malformed_frame" } });
    const nested = (depth: number) => fromHex("91".repeat(depth) + "00");
    expect(readExact(nested(MAX_DEPTH)).ok).toBe(true);
    expect(readExact(nested(MAX_DEPTH + 1)).ok).toBe(false);
  });

  it("reads a large integer in a signed encoding as large, and refuses it anywhere", () => {
    // {"v":1,"id":9,"req":{"op":"ping"},"x": int64 2^53}
    const bytes = fromHex("84a17601a26964" + "09" + "a372657181a26f70a470696e67a178d30020000000000000");
    expect(decodeClientFrame(bytes)).toMatchObject({ ok: false, error: { code: "malformed_frame", requestId: 9 } });
  });

  it("reads a map of 64 entries and refuses one of 65", () => {
    const frame = (extra: number) => {
      const map: Record<string, unknown> = { v: 1, id: 3, req: { op: "ping" } };
      for (let i = 0; i < extra; i++) map[`k${i}`] = null;
      return encode(map);
    };
    expect(decodeClientFrame(frame(61)).ok).toBe(true);
    // Unreadable, so its id is not trusted either.
    expect(decodeClientFrame(frame(62))).toEqual({ ok: false, error: expect.objectContaining({ code: "malformed_frame" }) });
    const tooWide = decodeClientFrame(frame(62));
    expect(!tooWide.ok && tooWide.error.requestId).toBeUndefined();
  });

  it("keeps the id when only `req` or `op` is mistyped", () => {
    const arrayReq = encode({ v: 1, id: 12, req: ["ping"] });
    expect(decodeClientFrame(arrayReq)).toMatchObject({ ok: false, error: { code: "malformed_frame", requestId: 12 } });
    const numberOp = encode({ v: 1, id: 13, req: { op: 7 } });
    expect(decodeClientFrame(numberOp)).toMatchObject({ ok: false, error: { code: "malformed_frame", requestId: 13 } });
  });

  it("refuses to encode values outside their type", () => {
    expect(() => encodeClientFrame(ping(-1))).toThrow(RangeError);
    expect(() => encodeClientFrame(ping(1.5))).toThrow(RangeError);
    expect(() => encodeClientFrame(ping(2 ** 53))).toThrow(RangeError);
    expect(() => encodeClientFrame({ v: 1, id: 1, req: { op: "fetch_backlog", after: 0, limit: 2 ** 32 } })).toThrow(RangeError);
  });
});

describe("server frame decoding", () => {
  const error: ServerFrame = { v: 1, msg: { type: "error", id: 5, code: "stale_epoch", message: "later", current_epoch: 6 } };

  it("round-trips an error and an envelope with and without its optional fields", () => {
    const frames: ServerFrame[] = [
      error,
      { v: 1, msg: { type: "error", code: "internal", message: "" } },
      {
        v: 1,
        msg: {
          type: "envelope",
          envelope: { seq: 1, group_id: new Uint8Array([1]), kind: "welcome", epoch: 2, message: new Uint8Array([3]), ratchet_tree: new Uint8Array([4]), received_at: 5 },
        },
      },
      { v: 1, msg: { type: "response", id: 9, result: { kind: "backlog", envelopes: [], more: false } } },
    ];
    for (const frame of frames) expect(decodeServerFrame(encodeServerFrame(frame))).toEqual({ ok: true, frame });
  });

  it("reads a nil optional field as absent", () => {
    const bytes = encode({ v: 1, msg: { type: "error", id: null, code: "internal", message: "m", current_epoch: null } });
    expect(decodeServerFrame(bytes)).toEqual({ ok: true, frame: { v: 1, msg: { type: "error", code: "internal", message: "m" } } });
  });

  it("rejects another protocol version", () => {
    const bytes = encodeServerFrame({ ...error, v: 2 });
    expect(rejected(bytes).code).toBe("unsupported_version");
  });

  it("rejects an unknown error code, message type, result kind or envelope kind", () => {
    expect(rejected(encode({ v: 1, msg: { type: "error", code: "teapot", message: "" } })).code).toBe("malformed_frame");
    expect(rejected(encode({ v: 1, msg: { type: "gossip" } })).code).toBe("malformed_frame");
    expect(rejected(encode({ v: 1, msg: { type: "response", id: 1, result: { kind: "maybe" } } })).code).toBe("malformed_frame");
    const env = { seq: 1, group_id: new Uint8Array(1), kind: "proposal", epoch: 0, message: new Uint8Array(1), received_at: 0 };
    expect(rejected(encode({ v: 1, msg: { type: "envelope", envelope: env } })).code).toBe("malformed_frame");
  });

  it("rejects a missing field, with its name in the message", () => {
    const r = rejected(encode({ v: 1, msg: { type: "key_package_count", one_time: 3 } }));
    expect(r.code).toBe("malformed_frame");
    expect(r.message).toContain("last_resort");
  });

  it("rejects a map with a non-string key and an extension value", () => {
    expect(rejected(fromHex("82a17601" + "01" + "c0")).code).toBe("malformed_frame");
    expect(rejected(fromHex("82a17601a36d7367d40000")).code).toBe("malformed_frame");
  });

  it("rejects invalid UTF-8 in strings", () => {
    // {v:1, msg:{type:"error", code:"internal", message:<ff>}}
    const bytes = fromHex("82a17601a36d736783a474797065a56572726f72a4636f6465a8696e7465726e616ca76d657373616765a1ff");
    expect(rejected(bytes).code).toBe("malformed_frame");
  });
});

describe("decoders never throw", () => {
  const samples = [
    encodeServerFrame(error()),
    encodeClientFrame({ v: 1, id: 77, req: { op: "send_commit", commit: new Uint8Array(40).fill(9), welcome: new Uint8Array(20) } }),
  ];

  function error(): ServerFrame {
    return { v: 1, msg: { type: "error", id: 5, code: "stale_epoch", message: "the group is at epoch 5", current_epoch: 5 } };
  }

  it("on every truncation and every single-byte change", () => {
    let rejectedCount = 0;
    for (const sample of samples) {
      for (let len = 0; len < sample.length; len++) {
        const cut = sample.slice(0, len);
        expect(decodeServerFrame(cut).ok).toBe(false);
        expect(decodeClientFrame(cut).ok).toBe(false);
        rejectedCount++;
      }
      for (let i = 0; i < sample.length; i++) {
        for (const b of [0x00, 0x7f, 0x80, 0xc1, 0xca, 0xcf, 0xd4, 0xdd, 0xdf, 0xff]) {
          const changed = sample.slice();
          changed[i] = b;
          // Any outcome is fine as long as it is a value, not an exception.
          const s = decodeServerFrame(changed);
          const c = decodeClientFrame(changed);
          expect(typeof s.ok).toBe("boolean");
          expect(typeof c.ok).toBe("boolean");
        }
      }
    }
    expect(rejectedCount).toBeGreaterThan(100);
  });

  it("on random bytes", () => {
    let seed = 42;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    for (let n = 0; n < 2000; n++) {
      const bytes = Uint8Array.from({ length: next() % 64 }, () => next() % 256);
      expect(typeof decodeServerFrame(bytes).ok).toBe("boolean");
      expect(typeof decodeClientFrame(bytes).ok).toBe("boolean");
    }
  });
});
