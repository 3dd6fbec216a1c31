// A strict reader for the MessagePack subset protocol frames use.
//
// Encoding is msgpackWrite.ts. Decoding is here, strict, not @msgpack/msgpack:
// that package turns a float 1.0 into the integer 1 and lets a repeated map
// key silently overwrite the first, where the Rust decoder (rmp-serde) rejects
// both. This reader returns what the frame really says, so the codec can be
// exactly as strict as the server. It never throws: failures are values.

/** A decoded MessagePack value. Maps keep their key order. */
export type MsgValue = null | boolean | number | BigUint | string | Uint8Array | MsgValue[] | MsgMap;

/** A map with string keys (the only keys frames use). */
export type MsgMap = Map<string, MsgValue>;

/**
 * An unsigned integer at or above 2^53, which a JavaScript number cannot hold
 * exactly. The protocol keeps integers below 2^53; the codec rejects these
 * with a clear reason instead of rounding them.
 */
export class BigUint {
  constructor(readonly value: bigint) {}
}

export type ReadResult =
  | { ok: true; value: MsgValue; end: number }
  | { ok: false; reason: string };

/** Frames are flat; anything nested deeper is hostile (the Rust side uses 16 too). */
export const MAX_DEPTH = 16;

/** Frame maps are structs of a few fields; more entries than this is hostile (as in Rust). */
export const MAX_MAP_ENTRIES = 64;

const utf8 = new TextDecoder("utf-8", { fatal: true });

class Fail {
  constructor(readonly reason: string) {}
}

class Reader {
  private pos: number;
  private readonly view: DataView;

  constructor(private readonly bytes: Uint8Array, start: number) {
    this.pos = start;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get position(): number {
    return this.pos;
  }

  private need(n: number): number {
    if (this.pos + n > this.bytes.length) throw new Fail("unexpected end of input");
    const at = this.pos;
    this.pos += n;
    return at;
  }

  private u8(): number {
    return this.view.getUint8(this.need(1));
  }
  private u16(): number {
    return this.view.getUint16(this.need(2));
  }
  private u32(): number {
    return this.view.getUint32(this.need(4));
  }
  private u64(): number | BigUint {
    const big = this.view.getBigUint64(this.need(8));
    return big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : new BigUint(big);
  }
  private i64(): number | BigUint {
    const big = this.view.getBigInt64(this.need(8));
    if (big < BigInt(Number.MIN_SAFE_INTEGER)) throw new Fail("integer out of range");
    // A signed encoding of a large positive value is a large integer like any other.
    return big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : new BigUint(big);
  }

  private raw(n: number): Uint8Array {
    const at = this.need(n);
    return this.bytes.slice(at, at + n);
  }

  private str(n: number): string {
    try {
      return utf8.decode(this.raw(n));
    } catch {
      throw new Fail("string is not valid UTF-8");
    }
  }

  private array(n: number, depth: number): MsgValue[] {
    // Each element takes at least one byte: refuse absurd lengths up front.
    if (n > this.bytes.length - this.pos) throw new Fail("unexpected end of input");
    const out: MsgValue[] = [];
    for (let i = 0; i < n; i++) out.push(this.value(depth + 1));
    return out;
  }

  private map(n: number, depth: number): MsgMap {
    if (n > MAX_MAP_ENTRIES) throw new Fail(`map of ${n} entries; frames use at most ${MAX_MAP_ENTRIES}`);
    if (n * 2 > this.bytes.length - this.pos) throw new Fail("unexpected end of input");
    const out: MsgMap = new Map();
    for (let i = 0; i < n; i++) {
      const key = this.value(depth + 1);
      if (typeof key !== "string") throw new Fail("map key is not a string");
      if (out.has(key)) throw new Fail(`duplicate field \`${key}\``);
      out.set(key, this.value(depth + 1));
    }
    return out;
  }

  value(depth: number): MsgValue {
    if (depth > MAX_DEPTH) throw new Fail("nested too deeply");
    const b = this.u8();
    if (b <= 0x7f) return b;
    if (b >= 0xe0) return b - 0x100;
    if (b >= 0x80 && b <= 0x8f) return this.map(b & 0x0f, depth);
    if (b >= 0x90 && b <= 0x9f) return this.array(b & 0x0f, depth);
    if (b >= 0xa0 && b <= 0xbf) return this.str(b & 0x1f);
    switch (b) {
      case 0xc0:
        return null;
      case 0xc2:
        return false;
      case 0xc3:
        return true;
      case 0xc4:
        return this.raw(this.u8());
      case 0xc5:
        return this.raw(this.u16());
      case 0xc6:
        return this.raw(this.u32());
      case 0xcc:
        return this.u8();
      case 0xcd:
        return this.u16();
      case 0xce:
        return this.u32();
      case 0xcf:
        return this.u64();
      case 0xd0:
        return this.view.getInt8(this.need(1));
      case 0xd1:
        return this.view.getInt16(this.need(2));
      case 0xd2:
        return this.view.getInt32(this.need(4));
      case 0xd3:
        return this.i64();
      case 0xd9:
        return this.str(this.u8());
      case 0xda:
        return this.str(this.u16());
      case 0xdb:
        return this.str(this.u32());
      case 0xdc:
        return this.array(this.u16(), depth);
      case 0xdd:
        return this.array(this.u32(), depth);
      case 0xde:
        return this.map(this.u16(), depth);
      case 0xdf:
        return this.map(this.u32(), depth);
      case 0xca:
      case 0xcb:
        throw new Fail("floating-point numbers are not used by the protocol");
      case 0xc1:
        throw new Fail("reserved byte 0xc1");
      default:
        // 0xc7-0xc9 and 0xd4-0xd8: extension types.
        throw new Fail("extension types are not used by the protocol");
    }
  }
}

/**
 * Read one value starting at `start`. `end` is where it stops; the caller
 * decides whether bytes after it are an error.
 */
export function readValue(bytes: Uint8Array, start = 0): ReadResult {
  const reader = new Reader(bytes, start);
  try {
    const value = reader.value(0);
    return { ok: true, value, end: reader.position };
  } catch (e) {
    if (e instanceof Fail) return { ok: false, reason: e.reason };
    // Anything else would be a bug in this reader; still never escape.
    return { ok: false, reason: "unreadable MessagePack" };
  }
}

/** Read exactly one value filling the whole buffer. */
export function readExact(bytes: Uint8Array): ReadResult {
  const r = readValue(bytes);
  if (r.ok && r.end !== bytes.length) return { ok: false, reason: "trailing bytes after the frame" };
  return r;
}

/**
 * Where the value holds an integer of 2^53 or more, anywhere (unknown fields
 * included): the protocol never uses one, so the frame is refused.
 */
export function findBigInteger(v: MsgValue, path = "frame"): string | undefined {
  if (v instanceof BigUint) return `${path}: integer ${v.value} is 2^53 or more, which the protocol never uses`;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const found = findBigInteger(v[i] as MsgValue, `${path}[${i}]`);
      if (found !== undefined) return found;
    }
  } else if (v instanceof Map) {
    for (const [key, x] of v) {
      const found = findBigInteger(x, `${path}.${key}`);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}
