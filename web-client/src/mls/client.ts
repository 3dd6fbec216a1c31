// The MLS rules of Parasol over ts-mls, for one identity: key packages,
// groups, commits (as PublicMessage), Welcome joins, application messages,
// and what an incoming mailbox envelope does to local state.
//
// This module does no I/O, like client/src/mls.rs, whose rules it follows:
// one ciphersuite; handshakes as PublicMessage and application messages as
// PrivateMessage; no ratchet-tree extension (the tree travels beside the
// Welcome); join by Welcome only (external commits do not interoperate with
// openmls); a commit is merged only when the server has accepted it, or when
// it comes back through my own mailbox; my own application messages come
// back too and are skipped by digest.
//
// ts-mls state is immutable: every call returns a new state and this class
// keeps it. A commit's new state is held as "pending" beside the current one
// until the server decides, so a refused commit costs nothing.

import { sha256 } from "@noble/hashes/sha2.js";
import {
  type CiphersuiteImpl,
  type ClientConfig,
  type ClientState,
  type KeyPackage,
  type Lifetime,
  type MLSMessage,
  type PrivateKeyPackage,
  type Proposal,
  type RatchetTree,
  acceptAll,
  createApplicationMessage,
  createCommit,
  createGroup,
  decodeGroupState,
  decodeMlsMessage,
  emptyPskIndex,
  encodeGroupState,
  encodeMlsMessage,
  generateKeyPackageWithKey,
  joinGroup,
  processMessage,
  zeroOutUint8Array,
} from "ts-mls";
import { defaultClientConfig } from "ts-mls/clientConfig.js";
import { createGroupInfo } from "ts-mls/createCommit.js";
import { makeKeyPackageRef, verifyKeyPackage } from "ts-mls/keyPackage.js";
import { decryptSenderData } from "ts-mls/privateMessage.js";
import { decodeRatchetTree, encodeRatchetTree } from "ts-mls/ratchetTree.js";

import type { Envelope } from "../protocol";
import { Identity, boundClientId, equalBytes, identityRule } from "./identity";
import { CIPHERSUITE, loadCiphersuite } from "./suite";
import { hex } from "../util/hex";

/** Extension type of the last-resort key-package extension (RFC 9420 §17.3). */
export const LAST_RESORT_EXTENSION = 0x000a;

/** Length of the random group ids this client creates (as the Rust client). */
export const GROUP_ID_LEN = 16;

/**
 * Key packages live 84 days from an hour ago, as openmls's default: under
 * the server's 90-day cap, and valid at once on a server whose clock is a
 * little behind.
 */
const KEY_PACKAGE_LIFETIME_SECS = 84 * 24 * 3600;
const KEY_PACKAGE_BACKDATE_SECS = 3600;

/** Own-message digests remembered at most (as MAX_SENT_DIGESTS in Rust). */
const MAX_SENT_DIGESTS = 4096;

/** Past epochs whose message keys are kept, for messages that raced a commit. */
const MAX_PAST_EPOCHS = 2;

/** Something the caller asked for that MLS or Parasol's rules do not allow. */
export class MlsClientError extends Error {
  override readonly name = "MlsClientError";
}

/** A new group, ready for `create_group`. */
export interface NewGroup {
  groupId: Uint8Array;
  /** MLSMessage(GroupInfo), without the ratchet-tree extension. */
  groupInfo: Uint8Array;
  /** The TLS-serialized ratchet tree. */
  ratchetTree: Uint8Array;
}

/** A commit ready for `send_commit`; the group holds it as pending. */
export interface CommitBundle {
  groupId: Uint8Array;
  /** MLSMessage(PublicMessage) with the commit. */
  commit: Uint8Array;
  /** MLSMessage(Welcome), when the commit adds members. */
  welcome?: Uint8Array;
  /** The ratchet tree after the commit, for the new members (with a Welcome). */
  ratchetTree?: Uint8Array;
  /** The epoch the commit was made in (the server's current one if accepted). */
  epoch: number;
}

export interface Member {
  leafIndex: number;
  clientId: Uint8Array;
}

/** What an envelope from my mailbox did. */
export type MlsEvent =
  /** I joined a group by Welcome (or re-joined one whose state I had lost). */
  | { kind: "joined"; groupId: Uint8Array; epoch: number; members: Uint8Array[] }
  /** An application message from another member. `sender` is authenticated by its MLS signature. */
  | { kind: "message"; groupId: Uint8Array; epoch: number; sender: Uint8Array; plaintext: Uint8Array }
  /**
   * A commit moved the group to `epoch`. `mine` is true for my own commit
   * coming back. `removedMe`: I am no longer in the group.
   */
  | {
      kind: "commit";
      groupId: Uint8Array;
      epoch: number;
      mine: boolean;
      committer: Uint8Array | undefined;
      added: Uint8Array[];
      removed: Uint8Array[];
      removedMe: boolean;
    }
  /** Nothing to show: my own message or an already-merged commit coming back, or a stale envelope. */
  | { kind: "skipped"; groupId: Uint8Array; reason: string };

interface StoredKeyPackage {
  publicPackage: KeyPackage;
  privatePackage: PrivateKeyPackage;
  lastResort: boolean;
}

interface PendingCommit {
  digest: string;
  newState: ClientState;
  /** Secrets of the current state that the commit used up: zeroed only when it is merged. */
  consumed: Uint8Array[];
}

interface GroupSlot {
  state: ClientState;
  pending?: PendingCommit;
  /** Digests of my commits merged on `commit_accepted` that have not come back through my mailbox yet. */
  mergedOwnCommits: Set<string>;
}

function digest(bytes: Uint8Array): string {
  return hex(sha256(bytes));
}

function decodeExactly(bytes: Uint8Array): MLSMessage {
  const decoded = decodeMlsMessage(bytes, 0);
  if (decoded === undefined || decoded[1] !== bytes.length) throw new MlsClientError("not an MLSMessage");
  return decoded[0];
}

function decodeTree(bytes: Uint8Array): RatchetTree {
  const decoded = decodeRatchetTree(bytes, 0);
  if (decoded === undefined || decoded[1] !== bytes.length) throw new MlsClientError("not a ratchet tree");
  return decoded[0];
}

function membersOf(tree: RatchetTree): Member[] {
  const out: Member[] = [];
  tree.forEach((node, nodeIndex) => {
    if (node?.nodeType !== "leaf") return;
    const id = boundClientId(node.leaf.credential, node.leaf.signaturePublicKey);
    if (id !== undefined) out.push({ leafIndex: nodeIndex / 2, clientId: id });
  });
  return out;
}

function leafClientId(tree: RatchetTree, leafIndex: number): Uint8Array | undefined {
  const node = tree[leafIndex * 2];
  return node?.nodeType === "leaf" ? boundClientId(node.leaf.credential, node.leaf.signaturePublicKey) : undefined;
}

function difference(a: Member[], b: Member[]): Uint8Array[] {
  const inB = new Set(b.map((m) => hex(m.clientId)));
  return a.filter((m) => !inB.has(hex(m.clientId))).map((m) => m.clientId);
}

function epochOf(state: ClientState): number {
  return Number(state.groupContext.epoch);
}

function zeroAll(secrets: Uint8Array[]): void {
  for (const s of secrets) zeroOutUint8Array(s);
}

/** Client configuration: the identity rule on every leaf, and few past epochs kept. */
const clientConfig: ClientConfig = {
  ...defaultClientConfig,
  authService: identityRule,
  keyRetentionConfig: { ...defaultClientConfig.keyRetentionConfig, retainKeysForEpochs: MAX_PAST_EPOCHS },
};

/** A key package with its private keys, as the staff vault keeps it. */
export interface ExportedKeyPackage {
  /** MLSMessage(KeyPackage). */
  keyPackage: Uint8Array;
  initPrivateKey: Uint8Array;
  hpkePrivateKey: Uint8Array;
  signaturePrivateKey: Uint8Array;
  lastResort: boolean;
}

/** All MLS state of one identity. Lives in memory only. */
export class MlsClient {
  private readonly keyPackages = new Map<string, StoredKeyPackage>();
  private readonly groups = new Map<string, GroupSlot>();
  private readonly sentDigests: string[] = [];

  private constructor(
    readonly identity: Identity,
    private readonly cs: CiphersuiteImpl,
  ) {}

  static async create(identity: Identity = Identity.generate()): Promise<MlsClient> {
    return new MlsClient(identity, await loadCiphersuite());
  }

  get clientId(): Uint8Array {
    return this.identity.clientId;
  }

  // --- export and restore (the staff console's sealed vault) ------------------

  /** The key packages whose private keys I hold, for the staff vault. */
  exportKeyPackages(): ExportedKeyPackage[] {
    return [...this.keyPackages.values()].map((k) => ({
      keyPackage: encodeMlsMessage({ version: "mls10", wireformat: "mls_key_package", keyPackage: k.publicPackage }),
      initPrivateKey: k.privatePackage.initPrivateKey,
      hpkePrivateKey: k.privatePackage.hpkePrivateKey,
      signaturePrivateKey: k.privatePackage.signaturePrivateKey,
      lastResort: k.lastResort,
    }));
  }

  /** Take back key packages exported by `exportKeyPackages` (only mine: checked against my identity). */
  async importKeyPackages(packages: ExportedKeyPackage[]): Promise<void> {
    for (const p of packages) {
      const msg = decodeExactly(p.keyPackage);
      if (msg.wireformat !== "mls_key_package") throw new MlsClientError("not a key package");
      const owner = boundClientId(msg.keyPackage.leafNode.credential, msg.keyPackage.leafNode.signaturePublicKey);
      if (owner === undefined || !equalBytes(owner, this.clientId)) throw new MlsClientError("not my key package");
      const ref = hex(await makeKeyPackageRef(msg.keyPackage, this.cs.hash));
      this.keyPackages.set(ref, {
        publicPackage: msg.keyPackage,
        privatePackage: {
          initPrivateKey: p.initPrivateKey,
          hpkePrivateKey: p.hpkePrivateKey,
          signaturePrivateKey: p.signaturePrivateKey,
        },
        lastResort: p.lastResort,
      });
    }
  }

  /**
   * A group's merged state (ts-mls `encodeGroupState`), for the staff vault.
   * A pending commit is not part of it: it is saved once merged.
   */
  exportGroup(groupId: Uint8Array): Uint8Array {
    return encodeGroupState(this.slot(groupId).state);
  }

  /** Take back a group exported by `exportGroup`; returns its group id. */
  importGroup(bytes: Uint8Array): Uint8Array {
    const decoded = decodeGroupState(bytes, 0);
    if (decoded === undefined || decoded[1] !== bytes.length) throw new MlsClientError("not a group state");
    const state: ClientState = { ...decoded[0], clientConfig };
    const groupId = state.groupContext.groupId;
    this.groups.set(hex(groupId), { state, mergedOwnCommits: new Set() });
    return groupId;
  }

  /** The ids of the groups I hold state for. */
  groupIds(): Uint8Array[] {
    return [...this.groups.values()].map((g) => g.state.groupContext.groupId);
  }

  // --- key packages ---------------------------------------------------------

  /**
   * `count` key packages (TLS-serialized MLSMessage(KeyPackage)) for
   * `publish_key_packages`. Their private keys stay here until a Welcome
   * uses them; a last-resort package is kept after use.
   */
  async createKeyPackages(count: number, options: { lastResort?: boolean } = {}): Promise<Uint8Array[]> {
    const lastResort = options.lastResort ?? false;
    const lifetime = keyPackageLifetime();
    const extensions = lastResort ? [{ extensionType: LAST_RESORT_EXTENSION, extensionData: new Uint8Array(0) }] : [];
    const out: Uint8Array[] = [];
    for (let i = 0; i < count; i++) {
      const { publicPackage, privatePackage } = await generateKeyPackageWithKey(
        this.identity.credential(),
        capabilities(),
        lifetime,
        extensions,
        this.identity.signatureKeyPair(),
        this.cs,
      );
      const ref = hex(await makeKeyPackageRef(publicPackage, this.cs.hash));
      this.keyPackages.set(ref, { publicPackage, privatePackage, lastResort });
      out.push(encodeMlsMessage({ version: "mls10", wireformat: "mls_key_package", keyPackage: publicPackage }));
    }
    return out;
  }

  /**
   * Parse and verify a claimed key package and check that it belongs to
   * `expected` (credential identity and signature key), is of our
   * ciphersuite and is within its lifetime.
   */
  async validateKeyPackage(bytes: Uint8Array, expected: Uint8Array): Promise<KeyPackage> {
    const { keyPackage, owner } = await this.parseKeyPackage(bytes);
    if (!equalBytes(owner, expected)) throw new MlsClientError("key package does not belong to the requested client");
    return keyPackage;
  }

  /**
   * Parse and verify a key package handed over by the server (signature,
   * ciphersuite, identity rule, lifetime) and say whose it is.
   */
  async parseKeyPackage(bytes: Uint8Array): Promise<{ keyPackage: KeyPackage; owner: Uint8Array }> {
    const msg = decodeExactly(bytes);
    if (msg.wireformat !== "mls_key_package") throw new MlsClientError("claimed data is not a key package");
    const kp = msg.keyPackage;
    if (kp.cipherSuite !== CIPHERSUITE) throw new MlsClientError("key package has the wrong ciphersuite");
    if (!(await verifyKeyPackage(kp, this.cs.signature))) throw new MlsClientError("key package signature is invalid");
    const owner = boundClientId(kp.leafNode.credential, kp.leafNode.signaturePublicKey);
    if (owner === undefined) throw new MlsClientError("key package breaks the identity rule");
    if (kp.leafNode.leafNodeSource !== "key_package") throw new MlsClientError("key package leaf has the wrong source");
    const now = BigInt(Math.floor(Date.now() / 1000));
    if (kp.leafNode.lifetime.notBefore > now || kp.leafNode.lifetime.notAfter < now) {
      throw new MlsClientError("key package is expired or not yet valid");
    }
    return { keyPackage: kp, owner };
  }

  /** How many key packages (one-time and last-resort) I still hold private keys for. */
  get storedKeyPackages(): number {
    return this.keyPackages.size;
  }

  // --- groups ---------------------------------------------------------------

  /** Create a group with me as its only member, ready for `create_group`. */
  async createGroup(): Promise<NewGroup> {
    const groupId = crypto.getRandomValues(new Uint8Array(GROUP_ID_LEN));
    const { publicPackage, privatePackage } = await generateKeyPackageWithKey(
      this.identity.credential(),
      capabilities(),
      keyPackageLifetime(),
      [],
      this.identity.signatureKeyPair(),
      this.cs,
    );
    const state = await createGroup(groupId, publicPackage, privatePackage, [], this.cs, clientConfig);
    const groupInfo = await createGroupInfo(state.groupContext, state.confirmationTag, state, [], this.cs);
    this.groups.set(hex(groupId), { state, mergedOwnCommits: new Set() });
    return {
      groupId,
      groupInfo: encodeMlsMessage({ version: "mls10", wireformat: "mls_group_info", groupInfo }),
      ratchetTree: encodeRatchetTree(state.ratchetTree),
    };
  }

  /** Forget a group (the server refused to create it, or the chat is over). */
  discardGroup(groupId: Uint8Array): void {
    this.groups.delete(hex(groupId));
  }

  hasGroup(groupId: Uint8Array): boolean {
    return this.groups.has(hex(groupId));
  }

  epoch(groupId: Uint8Array): number {
    return epochOf(this.slot(groupId).state);
  }

  members(groupId: Uint8Array): Member[] {
    return membersOf(this.slot(groupId).state.ratchetTree);
  }

  /** The group's current ratchet tree, TLS-serialized. */
  exportRatchetTree(groupId: Uint8Array): Uint8Array {
    return encodeRatchetTree(this.slot(groupId).state.ratchetTree);
  }

  hasPendingCommit(groupId: Uint8Array): boolean {
    return this.slot(groupId).pending !== undefined;
  }

  private slot(groupId: Uint8Array): GroupSlot {
    const slot = this.groups.get(hex(groupId));
    if (slot === undefined) throw new MlsClientError("unknown group");
    return slot;
  }

  // --- commits --------------------------------------------------------------

  /** Add the owners of these validated key packages. Undefined if all are already members. */
  async commitAdd(groupId: Uint8Array, keyPackages: KeyPackage[]): Promise<CommitBundle | undefined> {
    const current = new Set(this.members(groupId).map((m) => hex(m.clientId)));
    const proposals: Proposal[] = [];
    for (const keyPackage of keyPackages) {
      const id = boundClientId(keyPackage.leafNode.credential, keyPackage.leafNode.signaturePublicKey);
      if (id === undefined) throw new MlsClientError("key package without a valid identity");
      if (current.has(hex(id))) continue;
      current.add(hex(id));
      proposals.push({ proposalType: "add", add: { keyPackage } });
    }
    return proposals.length === 0 ? undefined : this.commit(groupId, proposals);
  }

  /** Remove these members. Undefined if none of them is in the group. */
  async commitRemove(groupId: Uint8Array, clientIds: Uint8Array[]): Promise<CommitBundle | undefined> {
    const wanted = new Set(clientIds.map(hex));
    if (wanted.has(hex(this.clientId))) {
      throw new MlsClientError("a member cannot remove itself in protocol v1 (that needs a proposal)");
    }
    const proposals: Proposal[] = this.members(groupId)
      .filter((m) => wanted.has(hex(m.clientId)))
      .map((m) => ({ proposalType: "remove", remove: { removed: m.leafIndex } }));
    return proposals.length === 0 ? undefined : this.commit(groupId, proposals);
  }

  /**
   * Remove these members and add the owners of these key packages in one
   * commit (re-adding a visitor who came back with a new key).
   */
  async commitReplace(groupId: Uint8Array, remove: Uint8Array[], add: KeyPackage[]): Promise<CommitBundle> {
    const wanted = new Set(remove.map(hex));
    if (wanted.has(hex(this.clientId))) throw new MlsClientError("a member cannot remove itself in protocol v1");
    const proposals: Proposal[] = this.members(groupId)
      .filter((m) => wanted.has(hex(m.clientId)))
      .map((m) => ({ proposalType: "remove", remove: { removed: m.leafIndex } }));
    for (const keyPackage of add) proposals.push({ proposalType: "add", add: { keyPackage } });
    if (proposals.length === 0) throw new MlsClientError("nothing to replace");
    return this.commit(groupId, proposals);
  }

  /** Refresh my own leaf: new encryption keys (post-compromise security). */
  async commitUpdate(groupId: Uint8Array): Promise<CommitBundle> {
    return this.commit(groupId, []);
  }

  private async commit(groupId: Uint8Array, proposals: Proposal[]): Promise<CommitBundle> {
    const slot = this.slot(groupId);
    if (slot.pending !== undefined) throw new MlsClientError("the group has an unresolved pending commit");
    const result = await createCommit(
      { state: slot.state, cipherSuite: this.cs },
      { wireAsPublicMessage: true, extraProposals: proposals, ratchetTreeExtension: false },
    );
    const commit = encodeMlsMessage(result.commit);
    slot.pending = { digest: digest(commit), newState: result.newState, consumed: result.consumed };
    const bundle: CommitBundle = { groupId, commit, epoch: epochOf(slot.state) };
    if (result.welcome !== undefined) {
      bundle.welcome = encodeMlsMessage({ version: "mls10", wireformat: "mls_welcome", welcome: result.welcome });
      bundle.ratchetTree = encodeRatchetTree(result.newState.ratchetTree);
    }
    return bundle;
  }

  /** The server answered `commit_accepted`: merge my pending commit. Returns the new epoch. */
  commitAccepted(groupId: Uint8Array): number {
    const slot = this.slot(groupId);
    const pending = slot.pending;
    // Already merged because the commit came back through my mailbox first.
    if (pending === undefined) return epochOf(slot.state);
    this.merge(slot, pending);
    slot.mergedOwnCommits.add(pending.digest);
    return epochOf(slot.state);
  }

  /** The server refused my pending commit (e.g. `stale_epoch`): forget it. */
  commitRejected(groupId: Uint8Array): void {
    delete this.slot(groupId).pending;
  }

  private merge(slot: GroupSlot, pending: PendingCommit): void {
    slot.state = pending.newState;
    delete slot.pending;
    zeroAll(pending.consumed);
  }

  // --- application messages ---------------------------------------------------

  /** Encrypt `plaintext` for the group: MLSMessage(PrivateMessage) for `send_message`. */
  async encrypt(groupId: Uint8Array, plaintext: Uint8Array): Promise<Uint8Array> {
    const slot = this.slot(groupId);
    const { newState, privateMessage, consumed } = await createApplicationMessage(slot.state, plaintext, this.cs);
    slot.state = newState;
    zeroAll(consumed);
    const bytes = encodeMlsMessage({ version: "mls10", wireformat: "mls_private_message", privateMessage });
    this.sentDigests.push(digest(bytes));
    if (this.sentDigests.length > MAX_SENT_DIGESTS) this.sentDigests.shift();
    return bytes;
  }

  // --- incoming ---------------------------------------------------------------

  /**
   * Apply one envelope of my mailbox. Throws MlsClientError (or a ts-mls
   * error) for an envelope that cannot be processed; the caller logs it
   * without content and moves on, since the cursor must advance anyway.
   */
  async processEnvelope(envelope: Envelope): Promise<MlsEvent> {
    switch (envelope.kind) {
      case "welcome":
        return this.joinFromWelcome(envelope.message, envelope.ratchet_tree);
      case "commit":
        return this.processCommit(envelope);
      case "application":
        return this.processApplication(envelope);
    }
  }

  /** Join a group from an MLSMessage(Welcome) and the ratchet tree sent beside it. */
  async joinFromWelcome(welcomeBytes: Uint8Array, treeBytes?: Uint8Array): Promise<MlsEvent> {
    const msg = decodeExactly(welcomeBytes);
    if (msg.wireformat !== "mls_welcome") throw new MlsClientError("not a Welcome");
    const welcome = msg.welcome;
    if (welcome.cipherSuite !== CIPHERSUITE) throw new MlsClientError("Welcome has the wrong ciphersuite");
    const tree = treeBytes === undefined ? undefined : decodeTree(treeBytes);
    for (const secret of welcome.secrets) {
      const ref = hex(secret.newMember);
      const stored = this.keyPackages.get(ref);
      if (stored === undefined) continue;
      const state = await joinGroup(
        welcome,
        stored.publicPackage,
        stored.privatePackage,
        emptyPskIndex,
        this.cs,
        tree,
        undefined,
        clientConfig,
      );
      if (!stored.lastResort) this.keyPackages.delete(ref);
      const groupId = state.groupContext.groupId;
      // A newer Welcome for a group I know replaces my (lost or stale) state.
      this.groups.set(hex(groupId), { state, mergedOwnCommits: new Set() });
      return {
        kind: "joined",
        groupId,
        epoch: epochOf(state),
        members: membersOf(state.ratchetTree).map((m) => m.clientId),
      };
    }
    throw new MlsClientError("the Welcome is for none of my key packages");
  }

  private async processCommit(envelope: Envelope): Promise<MlsEvent> {
    const groupId = envelope.group_id;
    const slot = this.groups.get(hex(groupId));
    if (slot === undefined) return { kind: "skipped", groupId, reason: "commit for a group I am not in" };
    const d = digest(envelope.message);
    if (slot.mergedOwnCommits.delete(d)) return { kind: "skipped", groupId, reason: "my commit, already merged" };
    const before = membersOf(slot.state.ratchetTree);
    if (slot.pending !== undefined && slot.pending.digest === d) {
      // My commit came back before (or instead of) its answer: it won.
      this.merge(slot, slot.pending);
      return this.commitEvent(groupId, slot, before, this.clientId, true);
    }
    if (envelope.epoch < epochOf(slot.state)) {
      return { kind: "skipped", groupId, reason: "commit of an epoch already past" };
    }
    const msg = decodeExactly(envelope.message);
    if (msg.wireformat !== "mls_public_message") throw new MlsClientError("commits must be PublicMessages");
    // Someone else's commit won this epoch; mine, if any, is lost.
    delete slot.pending;
    const sender = msg.publicMessage.content.sender;
    const committer = sender.senderType === "member" ? leafClientId(slot.state.ratchetTree, sender.leafIndex) : undefined;
    const result = await processMessage(msg, slot.state, emptyPskIndex, acceptAll, this.cs);
    if (result.kind !== "newState") throw new MlsClientError("a commit envelope held an application message");
    slot.state = result.newState;
    zeroAll(result.consumed);
    const event = this.commitEvent(groupId, slot, before, committer, false);
    if (event.kind === "commit" && event.removedMe) this.groups.delete(hex(groupId));
    return event;
  }

  private commitEvent(
    groupId: Uint8Array,
    slot: GroupSlot,
    before: Member[],
    committer: Uint8Array | undefined,
    mine: boolean,
  ): MlsEvent {
    const after = membersOf(slot.state.ratchetTree);
    return {
      kind: "commit",
      groupId,
      epoch: epochOf(slot.state),
      mine,
      committer,
      added: difference(after, before),
      removed: difference(before, after),
      removedMe: slot.state.groupActiveState.kind === "removedFromGroup",
    };
  }

  private async processApplication(envelope: Envelope): Promise<MlsEvent> {
    const groupId = envelope.group_id;
    const d = digest(envelope.message);
    const mineAt = this.sentDigests.indexOf(d);
    if (mineAt >= 0) {
      this.sentDigests.splice(mineAt, 1);
      return { kind: "skipped", groupId, reason: "my own message" };
    }
    const slot = this.groups.get(hex(groupId));
    if (slot === undefined) return { kind: "skipped", groupId, reason: "message for a group I am not in" };
    const msg = decodeExactly(envelope.message);
    if (msg.wireformat !== "mls_private_message") throw new MlsClientError("application messages must be PrivateMessages");
    const pm = msg.privateMessage;
    // The sender is in the encrypted sender data. processMessage verifies the
    // signature with that leaf's key, so once it succeeds the sender is proven.
    const current = pm.epoch === slot.state.groupContext.epoch;
    const epochData = current ? undefined : slot.state.historicalReceiverData.get(pm.epoch);
    const senderDataSecret = current ? slot.state.keySchedule.senderDataSecret : epochData?.senderDataSecret;
    const tree = current ? slot.state.ratchetTree : epochData?.ratchetTree;
    if (senderDataSecret === undefined || tree === undefined) {
      throw new MlsClientError("message of an epoch whose keys are gone");
    }
    const senderData = await decryptSenderData(pm, senderDataSecret, this.cs);
    const sender = senderData === undefined ? undefined : leafClientId(tree, senderData.leafIndex);
    if (sender === undefined) throw new MlsClientError("message from an unknown sender");
    const result = await processMessage(msg, slot.state, emptyPskIndex, acceptAll, this.cs);
    if (result.kind !== "applicationMessage") throw new MlsClientError("an application envelope held a handshake message");
    slot.state = result.newState;
    zeroAll(result.consumed);
    return { kind: "message", groupId, epoch: Number(pm.epoch), sender, plaintext: result.message };
  }

  /** Drop every group and key and overwrite the identity key (quick exit). */
  wipe(): void {
    this.groups.clear();
    this.keyPackages.clear();
    this.sentDigests.length = 0;
    this.identity.wipe();
  }
}

function keyPackageLifetime(): Lifetime {
  const now = BigInt(Math.floor(Date.now() / 1000));
  return {
    notBefore: now - BigInt(KEY_PACKAGE_BACKDATE_SECS),
    notAfter: now + BigInt(KEY_PACKAGE_LIFETIME_SECS),
  };
}

/** Leaf capabilities: our ciphersuite, basic credentials, and the last-resort extension. */
function capabilities() {
  return {
    versions: ["mls10" as const],
    ciphersuites: [CIPHERSUITE],
    extensions: [LAST_RESORT_EXTENSION],
    proposals: [],
    credentials: ["basic" as const],
  };
}
