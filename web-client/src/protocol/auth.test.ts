import { ed25519 } from "@noble/curves/ed25519.js";
import { describe, expect, it } from "vitest";

import { fromHex, toHex } from "../testing/hex";
import { AUTH_LABEL, authTranscript, decodeClientFrame, encodeClientFrame, signChallenge, verifyChallenge } from "./index";

describe("challenge authentication", () => {
  const seed = fromHex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
  const publicKey = ed25519.getPublicKey(seed);
  const nonce = new Uint8Array(32).fill(0xcc);

  it("signs label ‖ nonce ‖ public key, as auth.rs builds it", () => {
    const transcript = authTranscript(nonce, publicKey);
    expect(new TextDecoder().decode(AUTH_LABEL)).toBe("parasol/v1/authenticate");
    expect(toHex(transcript)).toBe(toHex(AUTH_LABEL) + "cc".repeat(32) + toHex(publicKey));
    expect(transcript.length).toBe(23 + 32 + 32);
  });

  it("uses RFC 8032's Ed25519 (test vector 1 key)", () => {
    expect(toHex(publicKey)).toBe("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
  });

  it("produces a proof the server's check accepts, deterministically", () => {
    const proof = signChallenge(nonce, seed, publicKey);
    expect(proof.method).toBe("ed25519_challenge");
    expect(proof.public_key).toEqual(publicKey);
    expect(proof.signature.length).toBe(64);
    expect(ed25519.verify(proof.signature, authTranscript(nonce, publicKey), publicKey)).toBe(true);
    expect(verifyChallenge(nonce, proof)).toBe(true);
    expect(signChallenge(nonce, seed, publicKey).signature).toEqual(proof.signature);
  });

  it("binds the signature to the nonce and the key", () => {
    const proof = signChallenge(nonce, seed, publicKey);
    expect(verifyChallenge(new Uint8Array(32).fill(0xcd), proof)).toBe(false);
    const other = ed25519.getPublicKey(ed25519.utils.randomSecretKey());
    expect(verifyChallenge(nonce, { ...proof, public_key: other })).toBe(false);
    const flipped = proof.signature.slice();
    flipped[0] = (flipped[0] ?? 0) ^ 1;
    expect(verifyChallenge(nonce, { ...proof, signature: flipped })).toBe(false);
    expect(verifyChallenge(nonce, { ...proof, signature: proof.signature.slice(0, 63) })).toBe(false);
  });

  it("travels in an authenticate frame", () => {
    const proof = signChallenge(nonce, seed, publicKey);
    const decoded = decodeClientFrame(encodeClientFrame({ v: 1, id: 1, req: { op: "authenticate", proof } }));
    expect(decoded).toEqual({ ok: true, frame: { v: 1, id: 1, req: { op: "authenticate", proof } } });
  });

  it("refuses a nonce or key of the wrong length", () => {
    expect(() => signChallenge(new Uint8Array(31), seed, publicKey)).toThrow(RangeError);
    expect(() => signChallenge(nonce, seed, publicKey.slice(1))).toThrow(RangeError);
  });
});
