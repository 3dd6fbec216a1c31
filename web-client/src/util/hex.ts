// Bytes as lowercase hex: map keys for groups and clients, device keys shown
// to counsellors, and the shared vectors in tests. The one definition.

/** Lowercase hex of `bytes`, two digits a byte. */
export function hex(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}

/** Strict: throws unless `text` is an even number of hex digits. */
export function fromHex(text: string): Uint8Array {
  if (text.length % 2 !== 0 || !/^[0-9a-f]*$/i.test(text)) throw new Error(`not hex: ${text}`);
  return hexBytes(text);
}

/**
 * Lenient, for keys typed or pasted by a counsellor: every pair of
 * characters becomes a byte (the caller checks the length).
 */
export function hexBytes(text: string): Uint8Array {
  return Uint8Array.from(text.match(/../g) ?? [], (pair) => parseInt(pair, 16));
}
