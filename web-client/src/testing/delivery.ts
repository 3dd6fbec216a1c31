// An in-memory stand-in for the server's delivery service, for MLS tests
// without a socket. It keeps the rules of PROTOCOL.md that clients depend
// on: one commit per epoch (later ones get stale_epoch), every member of the
// old epoch (the sender too) gets the commit, added members get the Welcome
// with the ratchet tree, and every member (the sender too) gets each
// application message, for the current epoch only. It follows membership
// from the commits' proposals the way MLS places leaves.

import { decodeMlsMessage } from "ts-mls";

import type { Envelope, EnvelopeKind } from "../protocol";
import type { CommitBundle, NewGroup } from "../mls";
import { hex } from "../util/hex";

type Hex = string;


interface Group {
  epoch: number;
  /** Leaf index → client id (hex), undefined for a blank leaf. */
  leaves: (Hex | undefined)[];
}

export class StaleEpoch extends Error {
  constructor(readonly currentEpoch: number) {
    super(`stale_epoch: the group is at epoch ${currentEpoch}`);
  }
}

export class FakeDelivery {
  private readonly groups = new Map<Hex, Group>();
  private readonly mailboxes = new Map<Hex, Envelope[]>();
  private readonly seqs = new Map<Hex, number>();
  private now = 1_795_000_000;

  createGroup(creator: Uint8Array, group: NewGroup): void {
    const id = hex(group.groupId);
    if (this.groups.has(id)) throw new Error("group_exists");
    this.groups.set(id, { epoch: 0, leaves: [hex(creator)] });
  }

  /** `send_commit`: accepted (and fanned out) or StaleEpoch. */
  sendCommit(sender: Uint8Array, bundle: CommitBundle): { epoch: number } {
    const group = this.group(bundle.groupId);
    if (bundle.epoch !== group.epoch) throw new StaleEpoch(group.epoch);
    const oldMembers = group.leaves.filter((l): l is Hex => l !== undefined);
    if (!oldMembers.includes(hex(sender))) throw new Error("not_a_member");
    const added = this.apply(group, bundle.commit);
    group.epoch += 1;
    for (const member of oldMembers) this.push(member, bundle.groupId, "commit", group.epoch - 1, bundle.commit);
    if (added.length > 0) {
      if (bundle.welcome === undefined) throw new Error("invalid_welcome: the commit adds members");
      for (const member of added) {
        this.push(member, bundle.groupId, "welcome", group.epoch, bundle.welcome, bundle.ratchetTree);
      }
    }
    return { epoch: group.epoch };
  }

  /** `send_message`: every member gets it, the sender too. */
  sendMessage(sender: Uint8Array, groupId: Uint8Array, epoch: number, message: Uint8Array): void {
    const group = this.group(groupId);
    if (epoch !== group.epoch) throw new StaleEpoch(group.epoch);
    const members = group.leaves.filter((l): l is Hex => l !== undefined);
    if (!members.includes(hex(sender))) throw new Error("not_a_member");
    for (const member of members) this.push(member, groupId, "application", epoch, message);
  }

  /** Take everything waiting in a client's mailbox (subscribe + ack). */
  drain(client: Uint8Array): Envelope[] {
    const box = this.mailboxes.get(hex(client)) ?? [];
    this.mailboxes.set(hex(client), []);
    return box;
  }

  /** Take the newest envelope of a client's mailbox, leaving the rest (to reorder deliveries). */
  takeLast(client: Uint8Array): Envelope | undefined {
    return this.mailboxes.get(hex(client))?.pop();
  }

  epoch(groupId: Uint8Array): number {
    return this.group(groupId).epoch;
  }

  members(groupId: Uint8Array): Hex[] {
    return this.group(groupId).leaves.filter((l): l is Hex => l !== undefined);
  }

  private group(groupId: Uint8Array): Group {
    const group = this.groups.get(hex(groupId));
    if (group === undefined) throw new Error("unknown_group");
    return group;
  }

  /** Apply a commit's proposals to the leaves (updates, removes, then adds); returns who was added. */
  private apply(group: Group, commitBytes: Uint8Array): Hex[] {
    const decoded = decodeMlsMessage(commitBytes, 0);
    if (decoded === undefined || decoded[0].wireformat !== "mls_public_message") {
      throw new Error("invalid_mls_message: commits are PublicMessages");
    }
    const content = decoded[0].publicMessage.content;
    if (content.contentType !== "commit") throw new Error("unsupported: not a commit");
    const proposals = content.commit.proposals.flatMap((p) => (p.proposalOrRefType === "proposal" ? [p.proposal] : []));
    for (const p of proposals) {
      if (p.proposalType === "remove") group.leaves[p.remove.removed] = undefined;
    }
    const added: Hex[] = [];
    for (const p of proposals) {
      if (p.proposalType !== "add") continue;
      const credential = p.add.keyPackage.leafNode.credential;
      if (credential.credentialType !== "basic") throw new Error("identity rule");
      const id = hex(credential.identity);
      const blank = group.leaves.indexOf(undefined);
      if (blank >= 0) group.leaves[blank] = id;
      else group.leaves.push(id);
      added.push(id);
    }
    while (group.leaves.length > 0 && group.leaves.at(-1) === undefined) group.leaves.pop();
    return added;
  }

  private push(
    client: Hex,
    groupId: Uint8Array,
    kind: EnvelopeKind,
    epoch: number,
    message: Uint8Array,
    ratchetTree?: Uint8Array,
  ): void {
    const seq = (this.seqs.get(client) ?? 0) + 1;
    this.seqs.set(client, seq);
    const envelope: Envelope = { seq, group_id: groupId, kind, epoch, message, received_at: this.now++ };
    if (ratchetTree !== undefined) envelope.ratchet_tree = ratchetTree;
    const box = this.mailboxes.get(client) ?? [];
    box.push(envelope);
    this.mailboxes.set(client, box);
  }
}
