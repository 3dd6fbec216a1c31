// MessagePack encoding of frames, mirroring protocol/src/codec.rs.
//
// Encoding is byte-identical to rmp-serde's `to_vec_named`: maps with string
// keys in struct field order (the tag first), optional fields left out when
// absent, integers in their smallest form. Decoding is as strict as the Rust
// decoder: wrong types, missing fields, repeated fields, trailing bytes and
// unknown versions are rejected, unknown fields are ignored (as serde does),
// and nothing throws: every failure is a typed FrameError. The tables of
// which field has which kind are generated (generated/schema.ts).

import type { FrameError } from "./error";
import { type Codec, Reject, asMap, str, truncate, u16, u64 } from "./fields";
import { MAX_FRAME_BYTES } from "./generated/constants";
import { clientFrame, serverFrame } from "./generated/schema";
import { type ClientFrame, type ErrorCode, type ServerFrame, OPERATIONS, PROTOCOL_VERSION } from "./generated/types";
import { readExact, readValue } from "./msgpack";
import { writeMsgpack as msgpackEncode } from "./msgpackWrite";

export type Decoded<T> = { ok: true; frame: T } | { ok: false; error: FrameError };

// ---------------------------------------------------------------------------
/**
 * Encode a client frame. Throws TypeError/RangeError only for a frame that
 * breaks its own type (a programming error), never for valid input.
 */
export function encodeClientFrame(frame: ClientFrame): Uint8Array {
  return msgpackEncode(clientFrame.encode(frame, "frame"));
}

/** Encode a server frame (used by tests and fakes of the server). */
export function encodeServerFrame(frame: ServerFrame): Uint8Array {
  return msgpackEncode(serverFrame.encode(frame, "frame"));
}

function frameError(code: ErrorCode, message: string, requestId?: number): FrameError {
  return requestId === undefined ? { code, message } : { code, message, requestId };
}

function unsupportedVersion(v: number, requestId?: number): FrameError {
  return frameError(
    "unsupported_version",
    `protocol version ${v} is not supported; this client speaks ${PROTOCOL_VERSION}`,
    requestId,
  );
}

function decodeWith<T>(codec: Codec<T>, bytes: Uint8Array): { ok: true; value: T } | { ok: false; reason: string } {
  const read = readExact(bytes);
  if (!read.ok) return read;
  try {
    return { ok: true, value: codec.decode(read.value, "frame") };
  } catch (e) {
    if (e instanceof Reject) return { ok: false, reason: e.reason };
    return { ok: false, reason: "undecodable frame" };
  }
}

/** What the Rust server's `FrameProbe` recovers from a bad frame, to answer it usefully. */
interface Probe {
  v?: number;
  id?: number;
  op?: string;
}

/**
 * Like the Rust probe: reads the first value (trailing bytes allowed), and
 * fails when `v`, `id`, `req` or `req.op` is present with the wrong type.
 */
function probe(bytes: Uint8Array): Probe | undefined {
  const read = readValue(bytes);
  if (!read.ok || !(read.value instanceof Map)) return undefined;
  const map = read.value;
  const out: Probe = {};
  try {
    const v = map.get("v");
    if (v !== undefined && v !== null) out.v = u16.decode(v, "v");
    const id = map.get("id");
    if (id !== undefined && id !== null) out.id = u64.decode(id, "id");
    const req = map.get("req");
    if (req !== undefined && req !== null) {
      const op = asMap(req, "req").get("op");
      if (op !== undefined && op !== null) out.op = str.decode(op, "req.op");
    }
  } catch {
    return undefined;
  }
  return out;
}

/**
 * Decode a client frame of at most `maxLen` bytes, with the same error code
 * and request id the server would answer with (checked by invalid.json).
 */
export function decodeClientFrame(bytes: Uint8Array, maxLen: number = MAX_FRAME_BYTES): Decoded<ClientFrame> {
  if (bytes.length > maxLen) {
    const error = frameError(
      "frame_too_large",
      `frame of ${bytes.length} bytes exceeds the limit of ${maxLen}`,
      probe(bytes)?.id,
    );
    return { ok: false, error };
  }
  const decoded = decodeWith(clientFrame, bytes);
  if (decoded.ok) {
    const frame = decoded.value;
    if (frame.v === PROTOCOL_VERSION) return { ok: true, frame };
    return { ok: false, error: unsupportedVersion(frame.v, frame.id) };
  }
  const p = probe(bytes);
  if (p === undefined) return { ok: false, error: frameError("malformed_frame", "not a MessagePack frame map") };
  if (p.v === undefined) return { ok: false, error: frameError("malformed_frame", "frame has no version `v`", p.id) };
  if (p.v !== PROTOCOL_VERSION) return { ok: false, error: unsupportedVersion(p.v, p.id) };
  if (p.op !== undefined && !(OPERATIONS as readonly string[]).includes(p.op)) {
    return { ok: false, error: frameError("unknown_operation", `unknown operation \`${truncate(p.op, 40)}\``, p.id) };
  }
  return { ok: false, error: frameError("malformed_frame", truncate(decoded.reason, 200), p.id) };
}

/** Decode a frame from the server. */
export function decodeServerFrame(bytes: Uint8Array): Decoded<ServerFrame> {
  const decoded = decodeWith(serverFrame, bytes);
  if (!decoded.ok) return { ok: false, error: frameError("malformed_frame", truncate(decoded.reason, 200)) };
  if (decoded.value.v !== PROTOCOL_VERSION) return { ok: false, error: unsupportedVersion(decoded.value.v) };
  return { ok: true, frame: decoded.value };
}
