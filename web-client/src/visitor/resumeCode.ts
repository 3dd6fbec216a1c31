// The resume code a visitor writes down to come back to a chat: the
// ticket's 16-byte resume secret in Crockford base32 (no I, L, O or U, so
// it survives handwriting), in groups of four. Never stored anywhere.

const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
export const SECRET_LEN = 16;

export function encodeResumeCode(secret: Uint8Array): string {
  let bits = 0;
  let value = 0;
  let out = "";
  for (const byte of secret) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= (1 << bits) - 1;
  }
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31];
  return out.match(/.{1,4}/g)?.join("-") ?? "";
}

/** Read a code as written: any case, spaces and dashes ignored, O→0, I/L→1. Undefined if it is not a code. */
export function decodeResumeCode(code: string): Uint8Array | undefined {
  const clean = code
    .toUpperCase()
    .replace(/[\s-]/g, "")
    .replace(/O/g, "0")
    .replace(/[IL]/g, "1");
  if (clean.length !== Math.ceil((SECRET_LEN * 8) / 5)) return undefined;
  const out = new Uint8Array(SECRET_LEN);
  let bits = 0;
  let value = 0;
  let at = 0;
  for (const ch of clean) {
    const digit = ALPHABET.indexOf(ch);
    if (digit < 0) return undefined;
    value = (value << 5) | digit;
    bits += 5;
    if (bits >= 8) {
      if (at < SECRET_LEN) out[at++] = (value >>> (bits - 8)) & 255;
      bits -= 8;
    }
    value &= (1 << bits) - 1;
  }
  // The last 2 bits are padding and must be zero, so one secret has one code.
  if (at !== SECRET_LEN || value !== 0) return undefined;
  return out;
}
