// The MessagePack writer for protocol frames: the values the codec's
// `encode` makes (plain objects, arrays, strings, integers, booleans, byte
// arrays) in the shortest form, byte for byte as rmp-serde's `to_vec_named`
// and @msgpack/msgpack write them (checked against the shared vectors in
// vectors.test.ts). Its own, because the visitor's page would otherwise
// carry a whole general-purpose MessagePack library for these few lines.

class Writer {
  private bytes = new Uint8Array(256);
  private view = new DataView(this.bytes.buffer);
  length = 0;

  private room(n: number): void {
    if (this.length + n <= this.bytes.length) return;
    const bigger = new Uint8Array(Math.max(this.bytes.length * 2, this.length + n));
    bigger.set(this.bytes.subarray(0, this.length));
    this.bytes = bigger;
    this.view = new DataView(bigger.buffer);
  }

  u8(b: number): void {
    this.room(1);
    this.bytes[this.length++] = b;
  }

  head(code: number, size: 1 | 2 | 4 | 8, n: number): void {
    this.u8(code);
    this.room(size);
    if (size === 1) this.view.setUint8(this.length, n);
    else if (size === 2) this.view.setUint16(this.length, n);
    else if (size === 4) this.view.setUint32(this.length, n);
    else this.view.setBigUint64(this.length, BigInt(n));
    this.length += size;
  }

  signed(code: number, size: 1 | 2 | 4 | 8, n: number): void {
    this.u8(code);
    this.room(size);
    if (size === 1) this.view.setInt8(this.length, n);
    else if (size === 2) this.view.setInt16(this.length, n);
    else if (size === 4) this.view.setInt32(this.length, n);
    else this.view.setBigInt64(this.length, BigInt(n));
    this.length += size;
  }

  raw(data: Uint8Array): void {
    this.room(data.length);
    this.bytes.set(data, this.length);
    this.length += data.length;
  }

  done(): Uint8Array {
    return this.bytes.slice(0, this.length);
  }
}

const utf8 = new TextEncoder();

function integer(w: Writer, n: number): void {
  if (n >= 0) {
    if (n < 0x80) w.u8(n);
    else if (n < 0x100) w.head(0xcc, 1, n);
    else if (n < 0x10000) w.head(0xcd, 2, n);
    else if (n < 0x100000000) w.head(0xce, 4, n);
    else w.head(0xcf, 8, n);
  } else if (n >= -32) w.u8(n & 0xff);
  else if (n >= -0x80) w.signed(0xd0, 1, n);
  else if (n >= -0x8000) w.signed(0xd1, 2, n);
  else if (n >= -0x80000000) w.signed(0xd2, 4, n);
  else w.signed(0xd3, 8, n);
}

/** A length-prefixed header: the fix form when it fits, else 8/16/32-bit lengths. */
function sized(w: Writer, n: number, fix: number | undefined, fixMax: number, codes: [number | undefined, number, number]): void {
  if (fix !== undefined && n <= fixMax) w.u8(fix | n);
  else if (codes[0] !== undefined && n < 0x100) w.head(codes[0], 1, n);
  else if (n < 0x10000) w.head(codes[1], 2, n);
  else w.head(codes[2], 4, n);
}

function value(w: Writer, v: unknown, depth: number): void {
  if (depth > 32) throw new RangeError("value nested too deeply");
  if (v === null || v === undefined) w.u8(0xc0);
  else if (v === false) w.u8(0xc2);
  else if (v === true) w.u8(0xc3);
  else if (typeof v === "number") {
    if (!Number.isSafeInteger(v)) throw new RangeError(`not an integer frames can carry: ${v}`);
    integer(w, v);
  } else if (typeof v === "string") {
    const bytes = utf8.encode(v);
    sized(w, bytes.length, 0xa0, 31, [0xd9, 0xda, 0xdb]);
    w.raw(bytes);
  } else if (v instanceof Uint8Array) {
    sized(w, v.length, undefined, -1, [0xc4, 0xc5, 0xc6]);
    w.raw(v);
  } else if (Array.isArray(v)) {
    sized(w, v.length, 0x90, 15, [undefined, 0xdc, 0xdd]);
    for (const item of v) value(w, item, depth + 1);
  } else if (typeof v === "object") {
    const entries = Object.entries(v as Record<string, unknown>);
    sized(w, entries.length, 0x80, 15, [undefined, 0xde, 0xdf]);
    for (const [key, item] of entries) {
      value(w, key, depth + 1);
      value(w, item, depth + 1);
    }
  } else {
    throw new TypeError(`cannot write ${typeof v} as MessagePack`);
  }
}

/** The MessagePack bytes of `v`. Throws only for values the codec never makes (a programming error). */
export function writeMsgpack(v: unknown): Uint8Array {
  const w = new Writer();
  value(w, v, 0);
  return w.done();
}
