// The staff vault's crypto and encoding: a sealed item opens only with the
// same password, account and slot; MLS state survives export and import.

import { describe, expect, it } from "vitest";

import { Identity, MlsClient } from "../mls";
import {
  MIN_KDF,
  decodeItem,
  deriveKey,
  encodeItem,
  fromBase64,
  groupSlot,
  itemAad,
  seal,
  toBase64,
  unseal,
} from "./vault";

const salt = new Uint8Array(16).fill(7);
// The floor the console accepts, so the tests run in about a second.
const kdf = { alg: "argon2id", salt, m_kib: MIN_KDF.m_kib, t: MIN_KDF.t, p: 1 };
const text = (s: string) => new TextEncoder().encode(s);

describe("vault crypto", () => {
  it("round-trips an item and refuses the wrong password", async () => {
    const key = await deriveKey("correct horse battery", kdf);
    const sealed = await seal(key, 42, "identity", text("secret state"));
    expect(sealed.length).toBe(12 + "secret state".length + 16);
    expect(new TextDecoder().decode(await unseal(key, 42, "identity", sealed))).toBe("secret state");
    // A fresh nonce each time: sealing twice gives different bytes.
    expect(toBase64(await seal(key, 42, "identity", text("secret state")))).not.toBe(toBase64(sealed));

    const wrong = await deriveKey("correct horse battery!", kdf);
    expect(await unseal(wrong, 42, "identity", sealed)).toBeUndefined();
    const otherSalt = await deriveKey("correct horse battery", { ...kdf, salt: new Uint8Array(16).fill(8) });
    expect(await unseal(otherSalt, 42, "identity", sealed)).toBeUndefined();
  }, 30_000);

  it("binds the slot and the account in the associated data", async () => {
    const key = await deriveKey("correct horse battery", kdf);
    const sealed = await seal(key, 42, "g-00", text("group"));
    expect(await unseal(key, 42, "g-01", sealed)).toBeUndefined();
    expect(await unseal(key, 43, "g-00", sealed)).toBeUndefined();
    const flipped = sealed.slice();
    flipped[20] = (flipped[20] as number) ^ 1;
    expect(await unseal(key, 42, "g-00", flipped)).toBeUndefined();
    expect(await unseal(key, 42, "g-00", sealed.subarray(0, 20))).toBeUndefined();
    const aad = itemAad(258, "ab");
    expect(new TextDecoder().decode(aad.subarray(0, 16))).toBe("parasol/vault/v1");
    expect(Array.from(aad.subarray(16, 24))).toEqual([0, 0, 0, 0, 0, 0, 1, 2]);
    expect(new TextDecoder().decode(aad.subarray(24))).toBe("ab");
  }, 30_000);

  it("refuses a server's weak or absurd parameters", async () => {
    await expect(deriveKey("pw", { ...kdf, m_kib: 1024 })).rejects.toThrow("weak_kdf");
    await expect(deriveKey("pw", { ...kdf, t: 1 })).rejects.toThrow("weak_kdf");
    await expect(deriveKey("pw", { ...kdf, salt: new Uint8Array(4) })).rejects.toThrow("weak_kdf");
    await expect(deriveKey("pw", { ...kdf, alg: "pbkdf2" })).rejects.toThrow("unsupported_kdf");
    await expect(deriveKey("pw", { ...kdf, m_kib: 16 * 1024 * 1024 })).rejects.toThrow("unsupported_kdf");
  });

  it("names group slots by a hash of the group id and encodes items", () => {
    const slot = groupSlot(new Uint8Array(16).fill(1));
    expect(slot).toMatch(/^g-[0-9a-f]{32}$/);
    expect(groupSlot(new Uint8Array(16).fill(2))).not.toBe(slot);
    const bytes = Uint8Array.from({ length: 70_000 }, (_, i) => (i * 7919) % 256);
    expect(fromBase64(toBase64(bytes))).toEqual(bytes);
    const item = { v: 1, state: new Uint8Array([1, 2, 3]), lines: [{ kind: "mine", text: "hi" }], gone: undefined };
    expect(decodeItem(encodeItem(item))).toEqual({ v: 1, state: new Uint8Array([1, 2, 3]), lines: item.lines });
  });
});

describe("MLS state through the vault", () => {
  it("a restored identity and group go on talking with the other member", async () => {
    const identity = Identity.generate();
    const counsellor = await MlsClient.create(identity);
    const visitor = await MlsClient.create();
    const [kpBytes] = await visitor.createKeyPackages(1);
    const group = await counsellor.createGroup();
    const kp = await counsellor.validateKeyPackage(kpBytes!, visitor.clientId);
    const bundle = await counsellor.commitAdd(group.groupId, [kp]);
    counsellor.commitAccepted(group.groupId);
    await visitor.joinFromWelcome(bundle!.welcome!, bundle!.ratchetTree);
    const before = await counsellor.encrypt(group.groupId, text("before"));
    await visitor.processEnvelope({ seq: 1, group_id: group.groupId, kind: "application", epoch: 1, message: before } as never);

    // Through the vault's encoding, as the console saves and restores it.
    const saved = decodeItem<{ secret: Uint8Array; state: Uint8Array }>(
      encodeItem({ secret: identity.exportSecret(), state: counsellor.exportGroup(group.groupId) }),
    );
    const restored = await MlsClient.create(Identity.fromSecret(saved.secret));
    expect(restored.clientId).toEqual(counsellor.clientId);
    const groupId = restored.importGroup(saved.state);
    expect(groupId).toEqual(group.groupId);
    expect(restored.epoch(groupId)).toBe(1);

    const fromVisitor = await visitor.encrypt(groupId, text("still there?"));
    const got = await restored.processEnvelope({ seq: 2, group_id: groupId, kind: "application", epoch: 1, message: fromVisitor } as never);
    expect(got.kind === "message" && new TextDecoder().decode(got.plaintext)).toBe("still there?");
    const reply = await restored.encrypt(groupId, text("yes"));
    const heard = await visitor.processEnvelope({ seq: 3, group_id: groupId, kind: "application", epoch: 1, message: reply } as never);
    expect(heard.kind === "message" && new TextDecoder().decode(heard.plaintext)).toBe("yes");
  }, 30_000);

  it("restored key packages still open a Welcome", async () => {
    const identity = Identity.generate();
    const first = await MlsClient.create(identity);
    const [kpBytes] = await first.createKeyPackages(1);
    const exported = decodeItem<{ kps: ReturnType<MlsClient["exportKeyPackages"]> }>(
      encodeItem({ kps: first.exportKeyPackages() }),
    ).kps;
    const restored = await MlsClient.create(Identity.fromSecret(identity.exportSecret()));
    await restored.importKeyPackages(exported);
    expect(restored.storedKeyPackages).toBe(1);
    const other = await MlsClient.create();
    const group = await other.createGroup();
    const kp = await other.validateKeyPackage(kpBytes!, identity.clientId);
    const bundle = await other.commitAdd(group.groupId, [kp]);
    const joined = await restored.joinFromWelcome(bundle!.welcome!, bundle!.ratchetTree);
    expect(joined.kind).toBe("joined");
    // Someone else's key packages are refused.
    const stranger = await MlsClient.create();
    await stranger.createKeyPackages(1);
    await expect(restored.importKeyPackages(stranger.exportKeyPackages())).rejects.toThrow("not my key package");
  }, 30_000);
});
