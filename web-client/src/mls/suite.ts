// The one ciphersuite Parasol uses, and the crypto behind it.
//
// 0x0001 MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519, as the Rust client
// (client/src/mls.rs) and the server require. Hashing, HKDF and AES-GCM come
// from ts-mls's noble provider (pure JavaScript). Ed25519 signatures use
// WebCrypto where the browser has Ed25519, and @noble/curves where it does
// not: ts-mls's own signature code picks WebCrypto whenever `crypto.subtle`
// exists, without checking that it knows Ed25519. HPKE's X25519 still needs
// WebCrypto X25519 (see `platformSupport`).

import { ed25519 } from "@noble/curves/ed25519.js";
import {
  type CiphersuiteImpl,
  type CiphersuiteName,
  type Signature,
  getCiphersuiteFromName,
  nobleCryptoProvider,
} from "ts-mls";

export const CIPHERSUITE: CiphersuiteName = "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519";
export const CIPHERSUITE_ID = 0x0001;

/** Ed25519 in pure JavaScript. Secret keys are 32-byte seeds, as everywhere in Parasol. */
export const nobleEd25519: Signature = {
  async sign(signKey, message) {
    if (signKey.length !== 32) throw new RangeError("Ed25519 secret keys are 32-byte seeds here");
    return ed25519.sign(message, signKey);
  },
  async verify(publicKey, message, signature) {
    try {
      return ed25519.verify(signature, message, publicKey);
    } catch {
      return false;
    }
  },
  async keygen() {
    const signKey = ed25519.utils.randomSecretKey();
    return { signKey, publicKey: ed25519.getPublicKey(signKey) };
  },
};

// RFC 8032 test vector 1's public key: any valid point will do for probing.
const PROBE_PUBLIC_KEY = Uint8Array.from(
  "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a".match(/../g) ?? [],
  (h) => parseInt(h, 16),
);

async function webCryptoKnows(algorithm: "Ed25519" | "X25519", usages: KeyUsage[]): Promise<boolean> {
  const subtle = globalThis.crypto?.subtle;
  if (subtle === undefined) return false;
  try {
    await subtle.importKey("raw", PROBE_PUBLIC_KEY, { name: algorithm }, false, usages);
    return true;
  } catch {
    return false;
  }
}

export interface PlatformSupport {
  /** WebCrypto Ed25519 (else signatures use @noble/curves; both work). */
  webCryptoEd25519: boolean;
  /** WebCrypto X25519, which HPKE (Welcome, update paths) needs. */
  webCryptoX25519: boolean;
}

/** What this browser's WebCrypto offers. Without X25519 MLS cannot run. */
export async function platformSupport(): Promise<PlatformSupport> {
  const [webCryptoEd25519, webCryptoX25519] = await Promise.all([
    webCryptoKnows("Ed25519", ["verify"]),
    webCryptoKnows("X25519", []),
  ]);
  return { webCryptoEd25519, webCryptoX25519 };
}

let loaded: Promise<CiphersuiteImpl> | undefined;

/** The ciphersuite implementation, built once per page. */
export function loadCiphersuite(): Promise<CiphersuiteImpl> {
  loaded ??= (async () => {
    const impl = await nobleCryptoProvider.getCiphersuiteImpl(getCiphersuiteFromName(CIPHERSUITE));
    const { webCryptoEd25519 } = await platformSupport();
    return webCryptoEd25519 ? impl : { ...impl, signature: nobleEd25519 };
  })();
  return loaded;
}
