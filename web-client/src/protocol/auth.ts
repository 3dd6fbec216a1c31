// The challenge signature that authenticates a connection, mirroring
// protocol/src/auth.rs: the client signs, with Ed25519,
// "parasol/v1/authenticate" ‖ nonce ‖ public_key.

import { ed25519 } from "@noble/curves/ed25519.js";

import type { AuthProof } from "./generated/types";

/** Domain-separation label: an auth signature is never valid anywhere else. */
export const AUTH_LABEL = new TextEncoder().encode("parasol/v1/authenticate");

export const NONCE_LEN = 32;
export const PUBLIC_KEY_LEN = 32;
export const SIGNATURE_LEN = 64;

/** `AUTH_LABEL ‖ nonce ‖ publicKey`: what the client signs. */
export function authTranscript(nonce: Uint8Array, publicKey: Uint8Array): Uint8Array {
  const out = new Uint8Array(AUTH_LABEL.length + nonce.length + publicKey.length);
  out.set(AUTH_LABEL, 0);
  out.set(nonce, AUTH_LABEL.length);
  out.set(publicKey, AUTH_LABEL.length + nonce.length);
  return out;
}

/**
 * The `authenticate` proof for a challenge `nonce`, signed with the 32-byte
 * Ed25519 secret key (seed) whose public key is the client id.
 */
export function signChallenge(nonce: Uint8Array, secretKey: Uint8Array, publicKey: Uint8Array): AuthProof {
  if (nonce.length !== NONCE_LEN) throw new RangeError(`challenge nonce must be ${NONCE_LEN} bytes`);
  if (publicKey.length !== PUBLIC_KEY_LEN) throw new RangeError(`public key must be ${PUBLIC_KEY_LEN} bytes`);
  const signature = ed25519.sign(authTranscript(nonce, publicKey), secretKey);
  return { method: "ed25519_challenge", public_key: publicKey, signature };
}

/** Check a proof as the server does (used by tests and fakes of the server). */
export function verifyChallenge(nonce: Uint8Array, proof: AuthProof): boolean {
  if (proof.public_key.length !== PUBLIC_KEY_LEN || proof.signature.length !== SIGNATURE_LEN) return false;
  try {
    return ed25519.verify(proof.signature, authTranscript(nonce, proof.public_key), proof.public_key);
  } catch {
    return false;
  }
}
