// MessagePack encoding of frames, mirroring protocol/src/codec.rs.
//
// Encoding is byte-identical to rmp-serde's `to_vec_named`: maps with string
// keys in struct field order (the tag first), optional fields left out when
// absent, integers in their smallest form. Decoding is as strict as the Rust
// decoder: wrong types, missing fields, repeated fields, trailing bytes and
// unknown versions are rejected, unknown fields are ignored (as serde does),
// and nothing throws: every failure is a typed FrameError.

import { encode as msgpackEncode } from "@msgpack/msgpack";

import { type ErrorCode, type FrameError, ERROR_CODES } from "./error";
import {
  type AuthProof,
  type ClientFrame,
  type Envelope,
  type EnvelopeKind,
  type GroupSummary,
  type Request,
  type Response,
  type ServerFrame,
  type ServerMessage,
  OPERATIONS,
  PROTOCOL_VERSION,
} from "./frame";
import { MAX_FRAME_BYTES } from "./limits";
import { type MsgMap, type MsgValue, BigUint, readExact, readValue } from "./msgpack";

export type Decoded<T> = { ok: true; frame: T } | { ok: false; error: FrameError };

// ---------------------------------------------------------------------------
// Field codecs. Decoders throw `Reject`, which never leaves this module.

class Reject {
  constructor(readonly reason: string) {}
}

interface Codec<T> {
  decode(v: MsgValue, path: string): T;
  encode(x: T, path: string): unknown;
}

/** A struct field: required, or optional (left out of the map when absent). */
interface Field<T, Optional extends boolean> {
  readonly optional: Optional;
  /** `undefined` means: leave the field out of the decoded value. */
  decode(v: MsgValue, path: string): T | undefined;
  /** `undefined` means: leave the field out of the encoded map. */
  encode(x: T, path: string): unknown;
}

/** The field specs of struct `T`, in wire order; optional keys need optional fields. */
type Fields<T> = {
  [K in keyof T]-?: {} extends Pick<T, K> ? Field<Exclude<T[K], undefined>, true> : Field<T[K], false>;
};

function describe(v: MsgValue): string {
  if (v === null) return "nil";
  if (v instanceof Uint8Array) return "bytes";
  if (v instanceof Map) return "map";
  if (Array.isArray(v)) return "array";
  if (v instanceof BigUint) return "integer";
  return typeof v === "number" ? "integer" : typeof v;
}

function typeError(v: MsgValue, expected: string, path: string): Reject {
  return new Reject(`${path}: invalid type: ${describe(v)}, expected ${expected}`);
}

function uint(bits: 16 | 32 | 53): Codec<number> {
  const max = bits === 53 ? Number.MAX_SAFE_INTEGER : 2 ** bits - 1;
  const name = bits === 53 ? "u64" : `u${bits}`;
  return {
    decode(v, path) {
      if (v instanceof BigUint) {
        throw new Reject(`${path}: integer ${v.value} is above 2^53, which the protocol never uses`);
      }
      if (typeof v !== "number") throw typeError(v, name, path);
      if (v < 0 || v > max) throw new Reject(`${path}: integer ${v} out of range for ${name}`);
      return v;
    },
    encode(x, path) {
      if (!Number.isInteger(x) || x < 0 || x > max) throw new RangeError(`${path}: ${x} is not a valid ${name}`);
      return x;
    },
  };
}

const u16 = uint(16);
const u32 = uint(32);
const u64 = uint(53);

const bool: Codec<boolean> = {
  decode(v, path) {
    if (typeof v !== "boolean") throw typeError(v, "a boolean", path);
    return v;
  },
  encode: (x) => x,
};

const bin: Codec<Uint8Array> = {
  decode(v, path) {
    if (!(v instanceof Uint8Array)) throw typeError(v, "bytes", path);
    return v;
  },
  encode(x, path) {
    if (!(x instanceof Uint8Array)) throw new TypeError(`${path}: expected a Uint8Array`);
    return x;
  },
};

const str: Codec<string> = {
  decode(v, path) {
    if (typeof v !== "string") throw typeError(v, "a string", path);
    return v;
  },
  encode: (x) => x,
};

function oneOf<T extends string>(values: readonly T[], what: string): Codec<T> {
  return {
    decode(v, path) {
      if (typeof v !== "string") throw typeError(v, what, path);
      if (!(values as readonly string[]).includes(v)) {
        throw new Reject(`${path}: unknown variant \`${truncate(v, 40)}\`, expected ${what}`);
      }
      return v as T;
    },
    encode(x, path) {
      if (!(values as readonly string[]).includes(x)) throw new RangeError(`${path}: \`${x}\` is not ${what}`);
      return x;
    },
  };
}

function list<T>(item: Codec<T>): Codec<T[]> {
  return {
    decode(v, path) {
      if (!Array.isArray(v)) throw typeError(v, "an array", path);
      return v.map((e, i) => item.decode(e, `${path}[${i}]`));
    },
    encode: (xs, path) => xs.map((x, i) => item.encode(x, `${path}[${i}]`)),
  };
}

function required<T>(codec: Codec<T>): Field<T, false> {
  return { optional: false, decode: codec.decode, encode: codec.encode };
}

/** `Option<T>` with `skip_serializing_if = "Option::is_none"`; nil reads as absent. */
function optional<T>(codec: Codec<T>): Field<T, true> {
  return {
    optional: true,
    decode: (v, path) => (v === null ? undefined : codec.decode(v, path)),
    encode: (x, path) => (x === undefined ? undefined : codec.encode(x, path)),
  };
}

/** `bool` with `default` and `skip_serializing_if = "Not::not"`: only `true` is sent. */
const flag: Field<boolean, true> = {
  optional: true,
  decode: (v, path) => (bool.decode(v, path) ? true : undefined),
  encode: (x) => (x ? true : undefined),
};

type AnyField = Field<unknown, boolean>;

function decodeFields(fields: Record<string, AnyField>, map: MsgMap, path: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, field] of Object.entries(fields)) {
    const raw = map.get(name);
    if (raw === undefined) {
      if (!field.optional) throw new Reject(`${path}: missing field \`${name}\``);
      continue;
    }
    const value = field.decode(raw, `${path}.${name}`);
    if (value !== undefined) out[name] = value;
  }
  return out;
}

function encodeFields(fields: Record<string, AnyField>, x: Record<string, unknown>, path: string, into: Record<string, unknown>): void {
  for (const [name, field] of Object.entries(fields)) {
    const value = x[name];
    if (value === undefined) {
      if (!field.optional) throw new TypeError(`${path}: missing field \`${name}\``);
      continue;
    }
    const encoded = field.encode(value, `${path}.${name}`);
    if (encoded !== undefined) into[name] = encoded;
  }
}

function asMap(v: MsgValue, path: string): MsgMap {
  if (!(v instanceof Map)) throw typeError(v, "a map", path);
  return v;
}

function struct<T>(fields: Fields<T>): Codec<T> {
  const f = fields as unknown as Record<string, AnyField>;
  return {
    decode: (v, path) => decodeFields(f, asMap(v, path), path) as T,
    encode(x, path) {
      const out: Record<string, unknown> = {};
      encodeFields(f, x as Record<string, unknown>, path, out);
      return out;
    },
  };
}

type Variants<U, Tag extends keyof U> = {
  [K in U[Tag] & string]: Fields<Omit<Extract<U, Record<Tag, K>>, Tag>>;
};

/** A serde internally tagged enum: the tag is the map's first key. */
function tagged<U extends Record<Tag, string>, Tag extends string>(tag: Tag, variants: Variants<U, Tag>): Codec<U> {
  const table = variants as unknown as Record<string, Record<string, AnyField>>;
  const names = Object.keys(table);
  return {
    decode(v, path) {
      const map = asMap(v, path);
      const name = map.get(tag);
      if (name === undefined) throw new Reject(`${path}: missing field \`${tag}\``);
      if (typeof name !== "string") throw typeError(name, `a \`${tag}\` string`, `${path}.${tag}`);
      const fields = Object.hasOwn(table, name) ? table[name] : undefined;
      if (fields === undefined) {
        throw new Reject(`${path}.${tag}: unknown variant \`${truncate(name, 40)}\`, expected one of ${names.join(", ")}`);
      }
      return { [tag]: name, ...decodeFields(fields, map, path) } as U;
    },
    encode(x, path) {
      const name = x[tag];
      const fields = Object.hasOwn(table, name) ? table[name] : undefined;
      if (fields === undefined) throw new RangeError(`${path}.${tag}: unknown variant \`${name}\``);
      const out: Record<string, unknown> = { [tag]: name };
      encodeFields(fields, x as Record<string, unknown>, path, out);
      return out;
    },
  };
}

// ---------------------------------------------------------------------------
// The schema of protocol version 1. Field order here is wire order.

const authProof = tagged<AuthProof, "method">("method", {
  ed25519_challenge: { public_key: required(bin), signature: required(bin) },
});

const request = tagged<Request, "op">("op", {
  authenticate: { proof: required(authProof) },
  publish_key_packages: { key_packages: required(list(bin)), replace: flag },
  claim_key_package: { client_id: required(bin) },
  create_group: { group_info: required(bin), ratchet_tree: required(bin) },
  send_commit: {
    commit: required(bin),
    welcome: optional(bin),
    group_info: optional(bin),
    ratchet_tree: optional(bin),
  },
  send_message: { message: required(bin) },
  subscribe: { after: required(u64) },
  fetch_backlog: { after: required(u64), limit: required(u32) },
  ack: { up_to: required(u64) },
  list_groups: {},
  ping: {},
});

const clientFrame = struct<ClientFrame>({ v: required(u16), id: required(u64), req: required(request) });

const envelopeKind = oneOf<EnvelopeKind>(["commit", "application", "welcome"], "commit, application or welcome");

const envelope = struct<Envelope>({
  seq: required(u64),
  group_id: required(bin),
  kind: required(envelopeKind),
  epoch: required(u64),
  message: required(bin),
  ratchet_tree: optional(bin),
  received_at: required(u64),
});

const groupSummary = struct<GroupSummary>({ group_id: required(bin), epoch: required(u64), members: required(u32) });

const response = tagged<Response, "kind">("kind", {
  authenticated: {
    client_id: required(bin),
    mailbox_head: required(u64),
    one_time_key_packages: required(u32),
    last_resort_key_package: required(bool),
  },
  key_packages_published: { one_time: required(u32), last_resort: required(bool) },
  key_package: { key_package: required(bin), last_resort: required(bool) },
  group_created: { group_id: required(bin), epoch: required(u64) },
  commit_accepted: { group_id: required(bin), epoch: required(u64) },
  message_accepted: { group_id: required(bin), epoch: required(u64) },
  subscribed: { head: required(u64) },
  backlog: { envelopes: required(list(envelope)), more: required(bool) },
  acked: { up_to: required(u64) },
  groups: { groups: required(list(groupSummary)) },
  pong: {},
});

const errorCode = oneOf<ErrorCode>(ERROR_CODES, "an error code of protocol version 1");

const serverMessage = tagged<ServerMessage, "type">("type", {
  challenge: { nonce: required(bin), versions: required(list(u16)) },
  response: { id: required(u64), result: required(response) },
  error: { id: optional(u64), code: required(errorCode), message: required(str), current_epoch: optional(u64) },
  envelope: { envelope: required(envelope) },
  key_package_count: { one_time: required(u32), last_resort: required(bool) },
});

const serverFrame = struct<ServerFrame>({ v: required(u16), msg: required(serverMessage) });

// ---------------------------------------------------------------------------
// Public API.

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

function truncate(s: string, max: number): string {
  const chars = Array.from(s);
  return chars.length > max ? `${chars.slice(0, max).join("")}…` : s;
}
