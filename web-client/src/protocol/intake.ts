// The intake's proof of work, as protocol/src/intake.rs. The intake's types
// (tickets, offers, badges, help) are generated: generated/types.ts.

import { sha256 } from "@noble/hashes/sha2.js";

import type { Bytes, PowChallenge } from "./generated/types";

// --- Proof of work (intake.rs) ------------------------------------------------

export const POW_DOMAIN = new TextEncoder().encode("parasol/v1/pow");
export const MAX_POW_NONCE_BYTES = 16;

export function leadingZeroBits(digest: Uint8Array): number {
  let bits = 0;
  for (const byte of digest) {
    if (byte === 0) {
      bits += 8;
      continue;
    }
    bits += Math.clz32(byte) - 24;
    break;
  }
  return bits;
}

/** SHA-256("parasol/v1/pow" ‖ challenge ‖ client id ‖ nonce). */
export function powDigest(challenge: Uint8Array, clientId: Uint8Array, nonce: Uint8Array): Uint8Array {
  const input = new Uint8Array(POW_DOMAIN.length + challenge.length + clientId.length + nonce.length);
  let at = 0;
  for (const part of [POW_DOMAIN, challenge, clientId, nonce]) {
    input.set(part, at);
    at += part.length;
  }
  return sha256(input);
}

export function powSolves(puzzle: PowChallenge, clientId: Uint8Array, nonce: Uint8Array): boolean {
  return (
    nonce.length <= MAX_POW_NONCE_BYTES &&
    leadingZeroBits(powDigest(puzzle.challenge, clientId, nonce)) >= puzzle.difficulty_bits
  );
}

/**
 * Find a nonce (about 2^difficulty hashes), as the Rust `solve_pow`: an
 * 8-byte big-endian counter. Stops after `maxAttempts` and returns undefined.
 */
export function solvePow(puzzle: PowChallenge, clientId: Uint8Array, maxAttempts = 2 ** 26): Bytes | undefined {
  const nonce = new Uint8Array(8);
  const view = new DataView(nonce.buffer);
  for (let counter = 0; counter < maxAttempts; counter++) {
    view.setUint32(0, Math.floor(counter / 2 ** 32));
    view.setUint32(4, counter >>> 0);
    if (powSolves(puzzle, clientId, nonce)) return nonce.slice();
  }
  return undefined;
}
