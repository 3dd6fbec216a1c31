// A client's identity: one Ed25519 key. Its 32-byte public key is the client
// id the server authenticates (challenge signature), the MLS leaf signature
// key, and the identity of the MLS BasicCredential. PROTOCOL.md's identity
// rule requires all three to be the same; client/src/identity.rs does the
// same on the Rust side.

import { ed25519 } from "@noble/curves/ed25519.js";
import { type AuthenticationService, type Credential, type CredentialBasic, zeroOutUint8Array } from "ts-mls";

import { type AuthProof, type Category, type Severity, type SignedEscalation, signChallenge, signEscalation } from "../protocol";

export const CLIENT_ID_LEN = 32;

export class Identity {
  private constructor(
    /** The 32-byte Ed25519 secret key (seed). Never leaves memory. */
    private readonly secret: Uint8Array,
    /** The client id: the 32-byte Ed25519 public key. */
    readonly clientId: Uint8Array,
  ) {}

  /** A fresh random identity (a visitor gets a new one for every chat). */
  static generate(): Identity {
    const secret = ed25519.utils.randomSecretKey();
    return new Identity(secret, ed25519.getPublicKey(secret));
  }

  /** Restore from a 32-byte secret key. */
  static fromSecret(secret: Uint8Array): Identity {
    if (secret.length !== 32) throw new RangeError("an identity secret is 32 bytes");
    const copy = secret.slice();
    return new Identity(copy, ed25519.getPublicKey(copy));
  }

  /** A copy of the secret key, for the staff console's sealed vault only (never for storage in the clear). */
  exportSecret(): Uint8Array {
    return this.secret.slice();
  }

  /** The MLS BasicCredential: identity = client id. */
  credential(): CredentialBasic {
    return { credentialType: "basic", identity: this.clientId.slice() };
  }

  /** The key pair in the form ts-mls wants for key packages and groups. */
  signatureKeyPair(): { signKey: Uint8Array; publicKey: Uint8Array } {
    return { signKey: this.secret.slice(), publicKey: this.clientId.slice() };
  }

  /** Answer the server's challenge (PROTOCOL.md, "Connecting and authenticating"). */
  authenticate(nonce: Uint8Array): AuthProof {
    return signChallenge(nonce, this.secret, this.clientId);
  }

  /** Sign an escalation request with this session's key (PROTOCOL.md, "Escalation to the crisis line"). */
  escalation(groupId: Uint8Array, severity: Severity, category: Category, issuedAt: number): SignedEscalation {
    return signEscalation(this.secret, groupId, severity, category, issuedAt);
  }

  /** Overwrite the secret key (quick exit, end of chat). The object is unusable after. */
  wipe(): void {
    zeroOutUint8Array(this.secret);
  }
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}

/**
 * The client id a credential names, if it is a BasicCredential of 32 bytes
 * equal to the leaf's signature key; otherwise undefined. (Rust:
 * `bound_client_id`.)
 */
export function boundClientId(credential: Credential, signaturePublicKey: Uint8Array): Uint8Array | undefined {
  if (credential.credentialType !== "basic") return undefined;
  const id = credential.identity;
  return id.length === CLIENT_ID_LEN && equalBytes(id, signaturePublicKey) ? id : undefined;
}

/**
 * ts-mls calls this for every leaf it sees (key packages, Welcome trees,
 * commits), so a leaf that breaks the identity rule is refused even if a
 * server let it through.
 */
export const identityRule: AuthenticationService = {
  async validateCredential(credential, signaturePublicKey) {
    return boundClientId(credential, signaturePublicKey) !== undefined;
  },
};

export { equalBytes };
