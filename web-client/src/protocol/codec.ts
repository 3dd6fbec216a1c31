// MessagePack encoding of frames, mirroring protocol/src/codec.rs.
//
// Encoding is byte-identical to rmp-serde's `to_vec_named`: maps with string
// keys in struct field order (the tag first), optional fields left out when
// absent, integers in their smallest form. Decoding is as strict as the Rust
// decoder (protocol/src/strict.rs): a field of the wrong MessagePack kind (bin
// for a string, a string or array for bin), an array where a map belongs, an
// integer of 2^53 or more anywhere, missing or repeated fields, trailing
// bytes and unknown versions are rejected, unknown fields are ignored (as
// serde does), and nothing throws: every failure is a typed FrameError. The tables of
// which field has which kind are generated (generated/schema.ts).

import type { FrameError } from "./error";
import { type Codec, Reject, str, truncate, u16, u64 } from "./fields";
import { MAX_FRAME_BYTES } from "./generated/constants";
import { clientFrame, serverFrame } from "./generated/schema";
import { type ClientFrame, type ErrorCode, type ServerFrame, OPERATIONS, PROTOCOL_VERSION } from "./generated/types";
import { type MsgValue, findBigInteger, readExact, readValue } from "./msgpack";
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
  const big = findBigInteger(read.value);
  if (big !== undefined) return { ok: false, reason: big };
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
 * Like the Rust probe (protocol/src/strict.rs): the first value must be
 * readable (trailing bytes allowed) and a map; then each of `v` (a u16), `id`
 * (an integer below 2^53) and `req.op` (a string in a map `req`) is taken
 * only when it has its type, and otherwise counts as absent.
 */
function probe(bytes: Uint8Array): Probe | undefined {
  const read = readValue(bytes);
  if (!read.ok || !(read.value instanceof Map)) return undefined;
  const map = read.value;
  const out: Probe = {};
  const v = readable(u16, map.get("v"));
  if (v !== undefined) out.v = v;
  const id = readable(u64, map.get("id"));
  if (id !== undefined) out.id = id;
  const req = map.get("req");
  if (req instanceof Map) {
    const op = readable(str, req.get("op"));
    if (op !== undefined) out.op = op;
  }
  return out;
}

function readable<T>(codec: Codec<T>, v: MsgValue | undefined): T | undefined {
  if (v === undefined) return undefined;
  try {
    return codec.decode(v, "probe");
  } catch {
    return undefined;
  }
}

/**
 * Decode a client frame of at most `maxLen` bytes, with the same error code
 * and request id the server would answer with (checked by the vectors in
 * protocol/tests/vectors/invalid/).
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
