// The field codecs the generated codec tables (generated/schema.ts) are
// built from: integers of each width, bytes, strings, name sets, lists,
// structs and serde's internally tagged enums, and the presence rules serde
// applies (`optional`, `flag`, `nonEmptyList`, `nonZero`). Decoders throw
// `Reject`, which never leaves the codec.

import { type MsgMap, type MsgValue, BigUint } from "./msgpack";

export class Reject {
  constructor(readonly reason: string) {}
}

export interface Codec<T> {
  decode(v: MsgValue, path: string): T;
  encode(x: T, path: string): unknown;
}

/** A struct field: required, or optional (left out of the map when absent). */
export interface Field<T, Optional extends boolean> {
  readonly optional: Optional;
  /** `undefined` means: leave the field out of the decoded value. */
  decode(v: MsgValue, path: string): T | undefined;
  /** `undefined` means: leave the field out of the encoded map. */
  encode(x: T, path: string): unknown;
}

/** The field specs of struct `T`, in wire order; optional keys need optional fields. */
export type Fields<T> = {
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

export function typeError(v: MsgValue, expected: string, path: string): Reject {
  return new Reject(`${path}: invalid type: ${describe(v)}, expected ${expected}`);
}

export function uint(bits: 8 | 16 | 32 | 53): Codec<number> {
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

export const u8 = uint(8);
export const u16 = uint(16);
export const u32 = uint(32);
export const u64 = uint(53);

export const bool: Codec<boolean> = {
  decode(v, path) {
    if (typeof v !== "boolean") throw typeError(v, "a boolean", path);
    return v;
  },
  encode: (x) => x,
};

export const bin: Codec<Uint8Array> = {
  decode(v, path) {
    if (!(v instanceof Uint8Array)) throw typeError(v, "bytes", path);
    return v;
  },
  encode(x, path) {
    if (!(x instanceof Uint8Array)) throw new TypeError(`${path}: expected a Uint8Array`);
    return x;
  },
};

export const str: Codec<string> = {
  decode(v, path) {
    if (typeof v !== "string") throw typeError(v, "a string", path);
    return v;
  },
  encode: (x) => x,
};

export function oneOf<T extends string>(values: readonly T[], what: string): Codec<T> {
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

export function list<T>(item: Codec<T>): Codec<T[]> {
  return {
    decode(v, path) {
      if (!Array.isArray(v)) throw typeError(v, "an array", path);
      return v.map((e, i) => item.decode(e, `${path}[${i}]`));
    },
    encode: (xs, path) => xs.map((x, i) => item.encode(x, `${path}[${i}]`)),
  };
}

export function required<T>(codec: Codec<T>): Field<T, false> {
  return { optional: false, decode: codec.decode, encode: codec.encode };
}

/** `Option<T>` with `skip_serializing_if = "Option::is_none"`; nil reads as absent. */
export function optional<T>(codec: Codec<T>): Field<T, true> {
  return {
    optional: true,
    decode: (v, path) => (v === null ? undefined : codec.decode(v, path)),
    encode: (x, path) => (x === undefined ? undefined : codec.encode(x, path)),
  };
}

/** `bool` with `default` and `skip_serializing_if = "Not::not"`: only `true` is sent. */
export const flag: Field<boolean, true> = {
  optional: true,
  decode: (v, path) => (bool.decode(v, path) ? true : undefined),
  encode: (x) => (x ? true : undefined),
};

/** `Vec<T>` with `default` and `skip_serializing_if = "Vec::is_empty"`: an empty list is left out. */
export function nonEmptyList<T>(item: Codec<T>): Field<T[], true> {
  const codec = list(item);
  return {
    optional: true,
    decode: (v, path) => {
      const xs = codec.decode(v, path);
      return xs.length === 0 ? undefined : xs;
    },
    encode: (xs, path) => (xs.length === 0 ? undefined : codec.encode(xs, path)),
  };
}

/** An integer with `default` and a skip when zero: 0 is left out. */
export function nonZero(codec: Codec<number>): Field<number, true> {
  return {
    optional: true,
    decode: (v, path) => {
      const n = codec.decode(v, path);
      return n === 0 ? undefined : n;
    },
    encode: (n, path) => (n === 0 ? undefined : codec.encode(n, path)),
  };
}

export type AnyField = Field<unknown, boolean>;

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

export function asMap(v: MsgValue, path: string): MsgMap {
  if (!(v instanceof Map)) throw typeError(v, "a map", path);
  return v;
}

export function struct<T>(fields: Fields<T>): Codec<T> {
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

export type Variants<U, Tag extends keyof U> = {
  [K in U[Tag] & string]: Fields<Omit<Extract<U, Record<Tag, K>>, Tag>>;
};

/** A serde internally tagged enum: the tag is the map's first key. */
export function tagged<U extends Record<Tag, string>, Tag extends string>(tag: Tag, variants: Variants<U, Tag>): Codec<U> {
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

export function truncate(s: string, max: number): string {
  const chars = Array.from(s);
  return chars.length > max ? `${chars.slice(0, max).join("")}…` : s;
}
