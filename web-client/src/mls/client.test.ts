// MLS flows between ts-mls clients through an in-memory delivery service
// that keeps the server's rules (src/testing/delivery.ts): key packages,
// create, add with Welcome, messages both ways, remove, self-update, a lost
// commit race, and a commit that comes back before its answer.

import { decodeMlsMessage, generateKeyPackageWithKey, getCiphersuiteFromName, nobleCryptoProvider } from "ts-mls";
import { decodeRatchetTree } from "ts-mls/ratchetTree.js";
import { beforeEach, describe, expect, it } from "vitest";

import { decodeClientFrame, encodeClientFrame, MAX_KEY_PACKAGE_LIFETIME_SECS } from "../protocol";
import { FakeDelivery, StaleEpoch } from "../testing/delivery";
import { toHex } from "../testing/hex";
import { CIPHERSUITE, Identity, LAST_RESORT_EXTENSION, type MlsEvent, MlsClient, MlsClientError, nobleEd25519 } from "./index";

const text = (s: string) => new TextEncoder().encode(s);
const read = (b: Uint8Array) => new TextDecoder().decode(b);

/** One client with its mailbox cursor, like a connected app. */
class Peer {
  private constructor(
    readonly mls: MlsClient,
    private readonly ds: FakeDelivery,
  ) {}

  static async join(ds: FakeDelivery): Promise<Peer> {
    return new Peer(await MlsClient.create(), ds);
  }

  get id(): Uint8Array {
    return this.mls.clientId;
  }

  /** Claim one of `other`'s key packages, as `claim_key_package` would hand it out. */
  async claim(other: Peer) {
    const [bytes] = await other.mls.createKeyPackages(1);
    return this.mls.validateKeyPackage(bytes!, other.id);
  }

  /** Send a staged commit and merge it on acceptance (or drop it on stale_epoch). */
  async send(bundle: Awaited<ReturnType<MlsClient["commitUpdate"]>>): Promise<void> {
    try {
      this.ds.sendCommit(this.id, bundle);
      this.mls.commitAccepted(bundle.groupId);
    } catch (e) {
      if (e instanceof StaleEpoch) this.mls.commitRejected(bundle.groupId);
      throw e;
    }
  }

  async say(groupId: Uint8Array, s: string): Promise<void> {
    const message = await this.mls.encrypt(groupId, text(s));
    this.ds.sendMessage(this.id, groupId, this.mls.epoch(groupId), message);
  }

  /** Process everything in my mailbox; returns the events that are not skips. */
  async receive(): Promise<MlsEvent[]> {
    const events: MlsEvent[] = [];
    for (const envelope of this.ds.drain(this.id)) {
      const event = await this.mls.processEnvelope(envelope);
      if (event.kind !== "skipped") events.push(event);
    }
    return events;
  }

  async heard(): Promise<string[]> {
    return (await this.receive()).flatMap((e) => (e.kind === "message" ? [`${name(e.sender)}: ${read(e.plaintext)}`] : []));
  }
}

const names = new Map<string, string>();
const name = (id: Uint8Array) => names.get(toHex(id)) ?? "?";

describe("MLS client", () => {
  let ds: FakeDelivery;
  let alice: Peer;
  let bob: Peer;
  let carol: Peer;

  beforeEach(async () => {
    ds = new FakeDelivery();
    [alice, bob, carol] = await Promise.all([Peer.join(ds), Peer.join(ds), Peer.join(ds)]);
    names.set(toHex(alice.id), "alice").set(toHex(bob.id), "bob").set(toHex(carol.id), "carol");
  });

  /** alice creates a group and adds bob; both are at epoch 1. */
  async function aliceAndBob(): Promise<Uint8Array> {
    const group = await alice.mls.createGroup();
    ds.createGroup(alice.id, group);
    const bundle = await alice.mls.commitAdd(group.groupId, [await alice.claim(bob)]);
    await alice.send(bundle!);
    expect(await alice.receive()).toEqual([]); // my own commit, already merged
    const [joined] = await bob.receive();
    expect(joined).toMatchObject({ kind: "joined", epoch: 1 });
    return group.groupId;
  }

  it("binds the credential, the signature key and the client id (identity rule)", async () => {
    const [bytes] = await alice.mls.createKeyPackages(1);
    const msg = decodeMlsMessage(bytes!, 0)![0];
    if (msg.wireformat !== "mls_key_package") throw new Error("not a key package");
    const leaf = msg.keyPackage.leafNode;
    expect(msg.keyPackage.cipherSuite).toBe(CIPHERSUITE);
    expect(leaf.credential).toEqual({ credentialType: "basic", identity: alice.id });
    expect(leaf.signaturePublicKey).toEqual(alice.id);
    expect(alice.id.length).toBe(32);
    // The same key signs the server's challenge.
    const proof = alice.mls.identity.authenticate(new Uint8Array(32).fill(7));
    expect(proof.public_key).toEqual(alice.id);
  });

  it("makes key packages the server's directory accepts", async () => {
    const packages = await bob.mls.createKeyPackages(3);
    const [lastResort] = await bob.mls.createKeyPackages(1, { lastResort: true });
    for (const bytes of [...packages, lastResort!]) {
      const kp = await alice.mls.validateKeyPackage(bytes, bob.id);
      const { notBefore, notAfter } = kp.leafNode.lifetime;
      expect(notAfter - notBefore).toBeLessThanOrEqual(BigInt(MAX_KEY_PACKAGE_LIFETIME_SECS));
      expect(kp.leafNode.capabilities.ciphersuites).toEqual([CIPHERSUITE]);
      expect(kp.leafNode.capabilities.extensions).toContain(LAST_RESORT_EXTENSION);
    }
    const kp = await alice.mls.validateKeyPackage(lastResort!, bob.id);
    expect(kp.extensions.map((e) => e.extensionType)).toEqual([LAST_RESORT_EXTENSION]);
    expect(bob.mls.storedKeyPackages).toBe(4);
    // They travel in publish_key_packages unchanged.
    const frame = { v: 1, id: 1, req: { op: "publish_key_packages" as const, key_packages: packages } };
    expect(decodeClientFrame(encodeClientFrame(frame))).toEqual({ ok: true, frame });
  });

  it("refuses a key package claimed for someone else, or that breaks the identity rule", async () => {
    const [bytes] = await bob.mls.createKeyPackages(1);
    await expect(alice.mls.validateKeyPackage(bytes!, carol.id)).rejects.toThrow(MlsClientError);
    await expect(alice.mls.validateKeyPackage(new Uint8Array([0, 1, 0, 5]), bob.id)).rejects.toThrow(MlsClientError);

    // A key package whose credential names carol but is signed with mallory's key.
    const cs = { ...(await nobleCryptoProvider.getCiphersuiteImpl(getCiphersuiteFromName(CIPHERSUITE))), signature: nobleEd25519 };
    const mallory = Identity.generate();
    const forged = await generateKeyPackageWithKey(
      { credentialType: "basic", identity: carol.id },
      { versions: ["mls10"], ciphersuites: [CIPHERSUITE], extensions: [], proposals: [], credentials: ["basic"] },
      { notBefore: 0n, notAfter: BigInt(Math.floor(Date.now() / 1000) + 3600) },
      [],
      mallory.signatureKeyPair(),
      cs,
    );
    const group = await alice.mls.createGroup();
    await expect(alice.mls.commitAdd(group.groupId, [forged.publicPackage])).rejects.toThrow();
    expect(alice.mls.hasPendingCommit(group.groupId)).toBe(false);
  });

  it("creates a group with a GroupInfo and ratchet tree for create_group", async () => {
    const group = await alice.mls.createGroup();
    expect(group.groupId.length).toBe(16);
    const info = decodeMlsMessage(group.groupInfo, 0)![0];
    expect(info.wireformat).toBe("mls_group_info");
    if (info.wireformat !== "mls_group_info") return;
    expect(info.groupInfo.groupContext.groupId).toEqual(group.groupId);
    expect(info.groupInfo.groupContext.epoch).toBe(0n);
    // No extensions: no ratchet tree and no external_pub (which openmls reads differently).
    expect(info.groupInfo.extensions).toEqual([]);
    const tree = decodeRatchetTree(group.ratchetTree, 0)![0];
    expect(tree.filter((n) => n?.nodeType === "leaf")).toHaveLength(1);
    expect(alice.mls.members(group.groupId).map((m) => m.clientId)).toEqual([alice.id]);
  });

  it("adds by Welcome, and both sides read each other; own copies are skipped", async () => {
    const groupId = await aliceAndBob();
    expect(alice.mls.epoch(groupId)).toBe(1);
    expect(bob.mls.epoch(groupId)).toBe(1);
    expect(bob.mls.members(groupId).map((m) => name(m.clientId))).toEqual(["alice", "bob"]);
    expect(bob.mls.storedKeyPackages).toBe(0); // the one-time package was used up

    await alice.say(groupId, "hello, I am here for you");
    await bob.say(groupId, "thank you");
    await bob.say(groupId, "can we talk?");
    expect(await alice.heard()).toEqual(["bob: thank you", "bob: can we talk?"]);
    expect(await bob.heard()).toEqual(["alice: hello, I am here for you"]);
  });

  it("grows to three members, and everyone reads everyone", async () => {
    const groupId = await aliceAndBob();
    await alice.send((await alice.mls.commitAdd(groupId, [await alice.claim(carol)]))!);
    expect(await bob.receive()).toEqual([
      expect.objectContaining({ kind: "commit", epoch: 2, mine: false, committer: alice.id, added: [carol.id], removed: [] }),
    ]);
    expect(await carol.receive()).toEqual([expect.objectContaining({ kind: "joined", epoch: 2, members: [alice.id, bob.id, carol.id] })]);
    await alice.receive();

    await carol.say(groupId, "a colleague is here too");
    await bob.say(groupId, "ok");
    expect(await alice.heard()).toEqual(["carol: a colleague is here too", "bob: ok"]);
    expect(await bob.heard()).toEqual(["carol: a colleague is here too"]);
    expect(await carol.heard()).toEqual(["bob: ok"]);
  });

  it("removes a member, who learns it and reads nothing after", async () => {
    const groupId = await aliceAndBob();
    await alice.send((await alice.mls.commitAdd(groupId, [await alice.claim(carol)]))!);
    await Promise.all([alice.receive(), bob.receive(), carol.receive()]);

    // Transfer-like: alice hands over to carol and leaves the chat.
    await carol.send((await carol.mls.commitRemove(groupId, [alice.id]))!);
    const [removal] = await alice.receive();
    expect(removal).toMatchObject({ kind: "commit", removedMe: true, removed: [alice.id], committer: carol.id });
    expect(alice.mls.hasGroup(groupId)).toBe(false);
    expect(await bob.receive()).toEqual([expect.objectContaining({ kind: "commit", epoch: 3, removed: [alice.id] })]);
    expect(ds.members(groupId)).toHaveLength(2);

    await bob.say(groupId, "are you still there?");
    expect(await carol.heard()).toEqual(["bob: are you still there?"]);
    expect(await alice.receive()).toEqual([]); // not delivered to her any more, and she has no keys
    expect(await carol.mls.commitRemove(groupId, [alice.id])).toBeUndefined(); // nothing left to do
    await expect(bob.mls.commitRemove(groupId, [bob.id])).rejects.toThrow(MlsClientError);
  });

  it("self-updates, and messages keep flowing", async () => {
    const groupId = await aliceAndBob();
    // bob's leaf (leaf 1 = node 2) encryption key, as each member's tree has it.
    const leafKey = (p: Peer) => {
      const node = decodeRatchetTree(p.mls.exportRatchetTree(groupId), 0)![0][2];
      if (node?.nodeType !== "leaf") throw new Error("no leaf at node 2");
      return toHex(node.leaf.hpkePublicKey);
    };
    const before = leafKey(bob);
    await bob.send(await bob.mls.commitUpdate(groupId));
    expect(await alice.receive()).toEqual([expect.objectContaining({ kind: "commit", epoch: 2, committer: bob.id, added: [], removed: [] })]);
    expect(leafKey(alice)).toBe(leafKey(bob));
    expect(leafKey(bob)).not.toBe(before);
    await bob.receive();
    await alice.say(groupId, "still here");
    expect(await bob.heard()).toEqual(["alice: still here"]);
  });

  it("loses a commit race cleanly and retries on the new epoch", async () => {
    const groupId = await aliceAndBob();
    const fromAlice = await alice.mls.commitUpdate(groupId);
    const fromBob = await bob.mls.commitUpdate(groupId);
    await alice.send(fromAlice);
    await expect(bob.send(fromBob)).rejects.toBeInstanceOf(StaleEpoch);
    expect(bob.mls.hasPendingCommit(groupId)).toBe(false);
    expect(bob.mls.epoch(groupId)).toBe(1);
    expect(await bob.receive()).toEqual([expect.objectContaining({ kind: "commit", epoch: 2, committer: alice.id })]);
    await bob.send(await bob.mls.commitUpdate(groupId));
    await alice.receive();
    await bob.receive();
    expect([alice.mls.epoch(groupId), bob.mls.epoch(groupId), ds.epoch(groupId)]).toEqual([3, 3, 3]);
    await bob.say(groupId, "made it");
    expect(await alice.heard()).toEqual(["bob: made it"]);
  });

  it("drops a pending commit when someone else's commit arrives first", async () => {
    const groupId = await aliceAndBob();
    await bob.mls.commitUpdate(groupId); // staged, never sent (e.g. the connection dropped)
    await alice.send(await alice.mls.commitUpdate(groupId));
    expect(await bob.receive()).toEqual([expect.objectContaining({ kind: "commit", epoch: 2 })]);
    expect(bob.mls.hasPendingCommit(groupId)).toBe(false);
  });

  it("merges its own commit when it comes back before the answer", async () => {
    const groupId = await aliceAndBob();
    const bundle = await alice.mls.commitUpdate(groupId);
    ds.sendCommit(alice.id, bundle); // accepted, but the answer is still in flight
    const own = ds.takeLast(alice.id)!;
    expect(await alice.mls.processEnvelope(own)).toMatchObject({ kind: "commit", mine: true, epoch: 2 });
    expect(alice.mls.commitAccepted(groupId)).toBe(2); // the late answer changes nothing
    await bob.receive();
    await alice.say(groupId, "after the race");
    expect(await bob.heard()).toEqual(["alice: after the race"]);
  });

  it("refuses a second commit while one is pending", async () => {
    const groupId = await aliceAndBob();
    await alice.mls.commitUpdate(groupId);
    await expect(alice.mls.commitUpdate(groupId)).rejects.toThrow("pending commit");
  });

  it("refuses a Welcome for key packages it does not hold", async () => {
    const group = await alice.mls.createGroup();
    ds.createGroup(alice.id, group);
    await alice.send((await alice.mls.commitAdd(group.groupId, [await alice.claim(bob)]))!);
    const [welcome] = ds.drain(bob.id);
    await expect(carol.mls.processEnvelope(welcome!)).rejects.toThrow("none of my key packages");
  });

  it("wipes its keys", async () => {
    const groupId = await aliceAndBob();
    alice.mls.wipe();
    expect(alice.mls.hasGroup(groupId)).toBe(false);
    expect(alice.mls.storedKeyPackages).toBe(0);
  });
});
