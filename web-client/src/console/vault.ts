// The staff state vault, the console's side (SECURITY.md and PROTOCOL.md,
// "Staff state vault"): the key is argon2id(password, salt) computed here,
// imported into WebCrypto as a non-extractable AES-256-GCM key; each item is
// sealed with a fresh 96-bit nonce and the associated data
// "parasol/vault/v1" ‖ account_id (u64 BE) ‖ slot. The server stores the
// sealed items and cannot read them. Nothing here touches browser storage:
// the key and the plaintexts live only in this page's memory.

import { decode, encode } from "@msgpack/msgpack";
import { argon2idAsync } from "@noble/hashes/argon2.js";
import { sha256 } from "@noble/hashes/sha2.js";

const AAD_LABEL = new TextEncoder().encode("parasol/vault/v1");
const NONCE_LEN = 12;
/** WebCrypto wants ArrayBuffer-backed views; ours always are. */
const bs = (u: Uint8Array) => u as Uint8Array<ArrayBuffer>;

/** The weakest argon2id cost the console accepts from a server (OWASP's floor). */
export const MIN_KDF = { m_kib: 19 * 1024, t: 2 } as const;
/** The most memory the console will spend on the key (a hostile server cannot ask for more). */
const MAX_KDF_M_KIB = 1024 * 1024;
const MAX_KDF_T = 10;

export interface KdfParams {
  alg: string;
  salt: Uint8Array;
  m_kib: number;
  t: number;
  p: number;
}

/** The server's answer made the vault unusable, or another console took it. */
export class VaultError extends Error {
  override readonly name = "VaultError";
  constructor(
    readonly code: string,
    readonly status?: number,
  ) {
    super(code);
  }
}

/** `vault_moved`: another login opened the vault; this console must stop. */
export function isVaultMoved(e: unknown): boolean {
  return e instanceof VaultError && e.code === "vault_moved";
}

/** Derive the vault key. Throws for parameters weaker than MIN_KDF or absurdly large. */
export async function deriveKey(password: string, kdf: KdfParams): Promise<CryptoKey> {
  if (kdf.alg !== "argon2id") throw new VaultError("unsupported_kdf");
  if (kdf.salt.length < 16) throw new VaultError("weak_kdf");
  if (kdf.m_kib < MIN_KDF.m_kib || kdf.t < MIN_KDF.t || kdf.p < 1) throw new VaultError("weak_kdf");
  if (kdf.m_kib > MAX_KDF_M_KIB || kdf.t > MAX_KDF_T || kdf.p > 16) throw new VaultError("unsupported_kdf");
  const raw = await argon2idAsync(new TextEncoder().encode(password), kdf.salt, {
    m: kdf.m_kib,
    t: kdf.t,
    p: kdf.p,
    dkLen: 32,
    // Yield to the page every 50 ms of work (scheduler.yield in Chromium), not every 10.
    asyncTick: 50,
  });
  try {
    return await crypto.subtle.importKey("raw", bs(raw), { name: "AES-GCM" }, false, ["encrypt", "decrypt"]);
  } finally {
    raw.fill(0);
  }
}

/** The associated data of an item: it cannot be moved to another slot or account. */
export function itemAad(accountId: number, slot: string): Uint8Array {
  const slotBytes = new TextEncoder().encode(slot);
  const out = new Uint8Array(AAD_LABEL.length + 8 + slotBytes.length);
  out.set(AAD_LABEL, 0);
  new DataView(out.buffer).setBigUint64(AAD_LABEL.length, BigInt(accountId), false);
  out.set(slotBytes, AAD_LABEL.length + 8);
  return out;
}

/** `nonce ‖ AES-GCM(plaintext)`. */
export async function seal(key: CryptoKey, accountId: number, slot: string, plaintext: Uint8Array): Promise<Uint8Array> {
  const nonce = crypto.getRandomValues(new Uint8Array(NONCE_LEN));
  const ct = new Uint8Array(
    await crypto.subtle.encrypt(
      { name: "AES-GCM", iv: nonce, additionalData: bs(itemAad(accountId, slot)) },
      key,
      bs(plaintext),
    ),
  );
  const out = new Uint8Array(NONCE_LEN + ct.length);
  out.set(nonce, 0);
  out.set(ct, NONCE_LEN);
  return out;
}

/** Open a sealed item; undefined if it does not open (wrong key, slot or account, or damaged). */
export async function unseal(
  key: CryptoKey,
  accountId: number,
  slot: string,
  sealed: Uint8Array,
): Promise<Uint8Array | undefined> {
  if (sealed.length < NONCE_LEN + 16) return undefined;
  try {
    const plain = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: bs(sealed.subarray(0, NONCE_LEN)), additionalData: bs(itemAad(accountId, slot)) },
      key,
      bs(sealed.subarray(NONCE_LEN)),
    );
    return new Uint8Array(plain);
  } catch {
    return undefined;
  }
}

/** The slot of a group's state: `g-` + hex of the first 16 bytes of SHA-256(group id). */
export function groupSlot(groupId: Uint8Array): string {
  return `g-${Array.from(sha256(groupId).subarray(0, 16), (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

export function toBase64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

export function fromBase64(text: string): Uint8Array {
  const s = atob(text);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** MessagePack of a vault item's plaintext. */
export function encodeItem(value: unknown): Uint8Array {
  return encode(value, { ignoreUndefined: true });
}

export function decodeItem<T>(bytes: Uint8Array): T {
  return decode(bytes, { useBigInt64: false }) as T;
}

async function errorOf(res: globalThis.Response): Promise<VaultError> {
  let code = `http_${res.status}`;
  try {
    code = ((await res.json()) as { error?: string }).error ?? code;
  } catch {
    // not JSON: keep the status
  }
  return new VaultError(code, res.status);
}

/** An opened vault: the key, and the items as they opened (plaintext, in memory only). */
export class Vault {
  private readonly versions = new Map<string, number>();
  /** Writes of one slot go one after another, the newest last. */
  private readonly writing = new Map<string, Promise<unknown>>();
  private moved = false;

  private constructor(
    private readonly token: string,
    readonly accountId: number,
    private key: CryptoKey | undefined,
    /** Items that opened, by slot. Items that did not (an old key) are left to be overwritten. */
    readonly items: Map<string, Uint8Array>,
    /** How long deriving the key took (ms), for SECURITY.md's measurement. */
    readonly deriveMs: number,
  ) {}

  /** `POST /v1/staff/vault/open`, derive the key and open every item. Takes the lease. */
  static async open(token: string, accountId: number, password: string): Promise<Vault> {
    const res = await fetch("/v1/staff/vault/open", {
      method: "POST",
      headers: { Authorization: `Bearer ${token}` },
      credentials: "omit",
      cache: "no-store",
    });
    if (!res.ok) throw await errorOf(res);
    const body = (await res.json()) as {
      kdf: { alg: string; salt: string; m_kib: number; t: number; p: number };
      items: Array<{ slot: string; version: number; sealed: string }>;
    };
    const started = performance.now();
    const key = await deriveKey(password, { ...body.kdf, salt: fromBase64(body.kdf.salt) });
    const deriveMs = Math.round(performance.now() - started);
    const items = new Map<string, Uint8Array>();
    const vault = new Vault(token, accountId, key, items, deriveMs);
    for (const item of body.items) {
      vault.versions.set(item.slot, item.version);
      const plain = await unseal(key, accountId, item.slot, fromBase64(item.sealed));
      if (plain !== undefined) items.set(item.slot, plain);
    }
    return vault;
  }

  get isMoved(): boolean {
    return this.moved;
  }

  /** Seal and store `value` in `slot`. Throws VaultError (`vault_moved` once another console opened it). */
  put(slot: string, value: unknown): Promise<void> {
    const run = (this.writing.get(slot) ?? Promise.resolve()).catch(() => undefined).then(() => this.write(slot, value));
    this.writing.set(slot, run);
    return run;
  }

  private async write(slot: string, value: unknown): Promise<void> {
    const key = this.key;
    if (this.moved) throw new VaultError("vault_moved");
    if (key === undefined) throw new VaultError("closed");
    const sealed = await seal(key, this.accountId, slot, encodeItem(value));
    const res = await fetch(`/v1/staff/vault/items/${slot}`, {
      method: "PUT",
      headers: { Authorization: `Bearer ${this.token}`, "Content-Type": "application/json" },
      body: JSON.stringify({ sealed: toBase64(sealed) }),
      credentials: "omit",
      cache: "no-store",
    });
    if (!res.ok) {
      const e = await errorOf(res);
      if (e.code === "vault_moved") this.moved = true;
      throw e;
    }
    this.versions.set(slot, ((await res.json()) as { version: number }).version);
  }

  /** Delete `slot` (a conversation that ended). */
  async remove(slot: string): Promise<void> {
    await (this.writing.get(slot) ?? Promise.resolve()).catch(() => undefined);
    if (this.moved || this.key === undefined) return;
    const res = await fetch(`/v1/staff/vault/items/${slot}`, {
      method: "DELETE",
      headers: { Authorization: `Bearer ${this.token}` },
      credentials: "omit",
      cache: "no-store",
    });
    if (!res.ok) {
      const e = await errorOf(res);
      if (e.code === "vault_moved") this.moved = true;
      throw e;
    }
    this.versions.delete(slot);
  }

  /**
   * Drop the opened plaintexts (once restored). Not overwritten: the
   * restored MLS state and key packages are views into these bytes.
   */
  forgetItems(): void {
    this.items.clear();
  }

  /** Forget the key and every plaintext (logout). */
  close(): void {
    this.key = undefined;
    this.forgetItems();
  }
}
