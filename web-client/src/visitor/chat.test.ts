// The visitor's chat end to end in memory: real protocol frames on a fake
// socket, real ts-mls clients for the counsellors, and the in-memory
// delivery service for routing. Covers the join by Welcome, the message
// written while waiting, both directions, the verified badge (and that it
// needs group membership), and the transfer: the new counsellor is added
// only when their badge verifies.

import { ed25519 } from "@noble/curves/ed25519.js";
import { describe, expect, it } from "vitest";

import type { SocketLike } from "../net/connection";
import { MlsClient } from "../mls";
import {
  type ServerMessage,
  type StaffBadge,
  type TicketState,
  attestationTranscript,
  decodeClientFrame,
  encodeServerFrame,
} from "../protocol";
import { FakeDelivery } from "../testing/delivery";
import { type VisitorState, VisitorIntake } from "./intake";

const serverSecret = new Uint8Array(32).fill(0x5e);
const serverKey = ed25519.getPublicKey(serverSecret);
const EXPIRES = Math.floor(Date.now() / 1000) + 3600;

function badge(client: MlsClient, name: string, secret = serverSecret): StaffBadge {
  const transcript = attestationTranscript(client.clientId, "counsellor", name, EXPIRES);
  return {
    display_name: name,
    role: "counsellor",
    signature_key: client.clientId,
    expires_at: EXPIRES,
    attestation: ed25519.sign(transcript, secret),
  };
}

/** The server, as far as the visitor's page can tell. */
class FakeServer implements SocketLike {
  binaryType: BinaryType = "blob";
  readyState = 1;
  onopen: SocketLike["onopen"] = null;
  onmessage: SocketLike["onmessage"] = null;
  onclose: SocketLike["onclose"] = null;
  onerror: SocketLike["onerror"] = null;
  visitor: Uint8Array | undefined;
  keyPackages: Uint8Array[] = [];
  group: Uint8Array | undefined;
  commits = 0;

  constructor(readonly delivery: FakeDelivery) {
    queueMicrotask(() => this.push({ type: "challenge", nonce: new Uint8Array(32).fill(1), versions: [1] }));
  }

  push(msg: ServerMessage): void {
    const bytes = encodeServerFrame({ v: 1, msg });
    this.onmessage?.({ data: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) } as MessageEvent);
  }

  /** Hand the visitor whatever the delivery service queued for it. */
  deliver(): void {
    if (this.visitor === undefined) return;
    for (const envelope of this.delivery.drain(this.visitor)) this.push({ type: "envelope", envelope });
  }

  private answer(id: number, result: Extract<ServerMessage, { type: "response" }>["result"]): void {
    queueMicrotask(() => {
      this.push({ type: "response", id, result });
      this.deliver();
    });
  }

  send(data: Uint8Array): void {
    const decoded = decodeClientFrame(data);
    if (!decoded.ok) throw new Error(decoded.error.message);
    const { id, req } = decoded.frame;
    switch (req.op) {
      case "authenticate":
        this.visitor = req.proof.public_key;
        return this.answer(id, { kind: "authenticated", client_id: this.visitor, mailbox_head: 0, one_time_key_packages: 0, last_resort_key_package: false });
      case "subscribe":
        return this.answer(id, { kind: "subscribed", head: 0 });
      case "ack":
        return this.answer(id, { kind: "acked", up_to: req.up_to });
      case "intake_info":
        return this.answer(id, {
          kind: "intake_info",
          open: true,
          languages: ["en"],
          topics: ["just_talk"],
          closing_tags: ["support"],
          time_zone: "UTC",
          opening_hours: [],
          help: { crisis_lines: [] },
          attestation_key: serverKey,
        });
      case "request_chat":
        this.keyPackages = req.key_packages;
        return this.answer(id, { kind: "ticket", ticket: { ticket_id: 5, status: { state: "waiting", position: 1, estimated_wait_secs: 30 }, resume_grace_secs: 600 } });
      case "send_message":
        this.delivery.sendMessage(this.visitor!, this.group!, this.delivery.epoch(this.group!), req.message);
        return this.answer(id, { kind: "message_accepted", group_id: this.group!, epoch: this.delivery.epoch(this.group!) });
      case "send_commit": {
        this.commits += 1;
        const bundle = { groupId: this.group!, commit: req.commit, epoch: this.delivery.epoch(this.group!) } as Parameters<FakeDelivery["sendCommit"]>[1];
        if (req.welcome !== undefined) bundle.welcome = req.welcome;
        if (req.ratchet_tree !== undefined) bundle.ratchetTree = req.ratchet_tree;
        const { epoch } = this.delivery.sendCommit(this.visitor!, bundle);
        return this.answer(id, { kind: "commit_accepted", group_id: this.group!, epoch });
      }
      default:
        throw new Error(`unexpected ${req.op}`);
    }
  }

  close(): void {}
}

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function drainInto(client: MlsClient, delivery: FakeDelivery) {
  const events = [];
  for (const envelope of delivery.drain(client.clientId)) events.push(await client.processEnvelope(envelope));
  return events;
}

describe("the visitor's chat", () => {
  it("joins by Welcome, sends what was written while waiting, talks both ways, and adds a transferred-to counsellor only with a valid badge", async () => {
    const delivery = new FakeDelivery();
    // Written by the callback: no narrowing from this initial value.
    let state = { kind: "connecting" } as VisitorState;
    const visitor = await VisitorIntake.create((s) => (state = s));
    const server = new FakeServer(delivery); // after create: it sends the challenge at once
    await visitor.start(server, { language: "en", topic: "just_talk", urgent: false });
    expect(state.kind).toBe("waiting");
    visitor.send("written while waiting");
    expect(state.kind === "waiting" && state.lines.at(-1)).toMatchObject({ kind: "mine", delivery: "queued" });

    // Ana accepts: creates the chat and adds the visitor with a key package of the ticket.
    const ana = await MlsClient.create();
    const kp = await ana.validateKeyPackage(server.keyPackages[0]!, server.visitor!);
    const created = await ana.createGroup();
    delivery.createGroup(ana.clientId, created);
    server.group = created.groupId;
    const add = (await ana.commitAdd(created.groupId, [kp]))!;
    delivery.sendCommit(ana.clientId, add);
    ana.commitAccepted(created.groupId);
    await drainInto(ana, delivery);
    const inChat = (c: StaffBadge, extra: Partial<Extract<TicketState["status"], { state: "in_chat" }>> = {}): TicketState => ({
      ticket_id: 5,
      status: { state: "in_chat", group_id: created.groupId, counsellor: c, ...extra },
      resume_grace_secs: 600,
    });
    server.push({ type: "ticket_update", ticket: inChat(badge(ana, "Ana")) });
    server.deliver();

    await until(() => state.kind === "in_chat" && state.joined && state.counsellor?.verified === true, "the join");
    await until(() => state.kind === "in_chat" && state.lines.some((l) => l.kind === "mine" && l.delivery === "sent"), "the queued message");
    const got = await drainInto(ana, delivery);
    expect(got.find((e) => e.kind === "message")).toMatchObject({ plaintext: new TextEncoder().encode("written while waiting") });

    // Ana answers; the visitor sees it from a verified counsellor.
    delivery.sendMessage(ana.clientId, created.groupId, delivery.epoch(created.groupId), await ana.encrypt(created.groupId, new TextEncoder().encode("hello, I'm Ana")));
    server.deliver();
    await until(() => state.kind === "in_chat" && state.lines.some((l) => l.kind === "theirs"), "Ana's message");
    expect(state.kind === "in_chat" && state.lines.find((l) => l.kind === "theirs")).toMatchObject({ text: "hello, I'm Ana", from: "Ana", verified: true });

    // A transfer whose badge was not signed by the server is refused: no commit.
    const mallory = await MlsClient.create();
    const [malloryKp] = await mallory.createKeyPackages(1);
    const forged = badge(mallory, "Mallory", new Uint8Array(32).fill(9));
    server.push({ type: "ticket_update", ticket: inChat(forged, { transferred: true, add_counsellor: { badge: forged, key_package: malloryKp! } }) });
    await until(() => state.kind === "in_chat" && state.lines.some((l) => l.kind === "system" && l.event === "unverified_member"), "the refusal");
    expect(server.commits).toBe(0);
    expect(delivery.members(created.groupId)).toHaveLength(2);
    expect(state.kind === "in_chat" && state.counsellor?.verified).toBe(false); // Mallory is not in the group

    // A real transfer to Besa: the visitor's page adds her.
    const besa = await MlsClient.create();
    const [besaKp] = await besa.createKeyPackages(1);
    const besaBadge = badge(besa, "Besa");
    server.push({ type: "ticket_update", ticket: inChat(besaBadge, { transferred: true, add_counsellor: { badge: besaBadge, key_package: besaKp! } }) });
    await until(() => server.commits === 1, "the add");
    await until(() => state.kind === "in_chat" && state.counsellor?.displayName === "Besa" && state.counsellor.verified, "Besa verified");
    const joined = await drainInto(besa, delivery);
    expect(joined[0]).toMatchObject({ kind: "joined" });
    expect(state.kind === "in_chat" && state.lines.filter((l) => l.kind === "system").map((l) => l.kind === "system" && l.event)).toEqual([
      "counsellor_joined",
      "transferred",
      "unverified_member",
      "new_counsellor_joined",
    ]);
    visitor.close();
  });
});
