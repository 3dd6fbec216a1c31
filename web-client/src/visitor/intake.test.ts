// The visitor's intake flow against a fake server socket that speaks real
// protocol frames: challenge, authenticate (signature checked), intake_info,
// request_chat with valid key packages, a proof-of-work round, pushed
// ticket updates, cancel.

import { describe, expect, it } from "vitest";

import type { SocketLike } from "../net/connection";
import { MlsClient } from "../mls";
import {
  type ClientFrame,
  type ServerMessage,
  type TicketState,
  decodeClientFrame,
  encodeServerFrame,
  powSolves,
  verifyChallenge,
} from "../protocol";
import { KEY_PACKAGES_PER_REQUEST, type VisitorState, VisitorIntake } from "./intake";

const help = { crisis_lines: [{ name: "SOS", number: "0800 11111", hours: "24/7" }] };

class FakeServer implements SocketLike {
  binaryType: BinaryType = "blob";
  readyState = 1;
  onopen: SocketLike["onopen"] = null;
  onmessage: SocketLike["onmessage"] = null;
  onclose: SocketLike["onclose"] = null;
  onerror: SocketLike["onerror"] = null;
  readonly received: ClientFrame[] = [];
  readonly nonce = new Uint8Array(32).fill(9);
  clientId: Uint8Array | undefined;
  requirePow = false;
  closedWith: number | undefined;

  constructor() {
    queueMicrotask(() => this.push({ type: "challenge", nonce: this.nonce, versions: [1] }));
  }

  push(msg: ServerMessage): void {
    const bytes = encodeServerFrame({ v: 1, msg });
    const data = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
    this.onmessage?.({ data } as MessageEvent);
  }

  private answer(id: number, result: Extract<ServerMessage, { type: "response" }>["result"]): void {
    queueMicrotask(() => this.push({ type: "response", id, result }));
  }

  send(data: Uint8Array): void {
    const decoded = decodeClientFrame(data);
    if (!decoded.ok) throw new Error(`client sent a bad frame: ${decoded.error.message}`);
    const { id, req } = decoded.frame;
    this.received.push(decoded.frame);
    switch (req.op) {
      case "authenticate":
        if (!verifyChallenge(this.nonce, req.proof)) throw new Error("bad signature");
        this.clientId = req.proof.public_key;
        return this.answer(id, { kind: "authenticated", client_id: req.proof.public_key, mailbox_head: 0, one_time_key_packages: 0, last_resort_key_package: false });
      case "intake_info":
        return this.answer(id, {
          kind: "intake_info",
          open: true,
          languages: ["mk", "sq", "en"],
          topics: ["violence", "trafficking", "health", "police_legal", "just_talk"],
          closing_tags: ["support"],
          time_zone: "Europe/Skopje",
          opening_hours: [],
          help,
          attestation_key: new Uint8Array(32),
        });
      case "request_chat": {
        if (this.requirePow && req.pow === undefined) {
          const pow = { challenge: new Uint8Array(32).fill(3), difficulty_bits: 8 };
          return void queueMicrotask(() => this.push({ type: "error", id, code: "pow_required", message: "solve", pow, help }));
        }
        if (req.pow !== undefined && !powSolves({ challenge: req.pow.challenge, difficulty_bits: 8 }, this.clientId!, req.pow.nonce)) {
          throw new Error("bad proof of work");
        }
        const ticket: TicketState = {
          ticket_id: 77,
          status: { state: "waiting", position: 3, estimated_wait_secs: 540 },
          resume_secret: new Uint8Array(16).fill(5),
          resume_grace_secs: 600,
        };
        return this.answer(id, { kind: "ticket", ticket });
      }
      case "subscribe":
        return this.answer(id, { kind: "subscribed", head: 0 });
      case "ack":
        return this.answer(id, { kind: "acked", up_to: req.up_to });
      case "cancel_ticket":
        return this.answer(id, { kind: "ticket_cancelled", ticket_id: req.ticket_id });
      case "chat_feedback":
        return this.answer(id, { kind: "feedback_recorded" });
      case "sos":
        return this.answer(id, { kind: "sos_raised", help });
      default:
        throw new Error(`unexpected ${req.op}`);
    }
  }

  close(code = 1000): void {
    this.closedWith = code;
  }
}

async function flush(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((r) => setTimeout(r, 0));
}

describe("visitor intake", () => {
  it("gets a ticket with valid key packages, follows pushed positions, and cancels", async () => {
    const states: VisitorState[] = [];
    const intake = await VisitorIntake.create((s) => states.push(s));
    const server = new FakeServer();
    await intake.start(server, { language: "mk", topic: "health", urgent: true });

    const request = server.received.find((f) => f.req.op === "request_chat")!.req;
    expect(request).toMatchObject({ op: "request_chat", language: "mk", topic: "health", urgent: true });
    if (request.op !== "request_chat") throw new Error("unreachable");
    expect(request.key_packages).toHaveLength(KEY_PACKAGES_PER_REQUEST);
    const counsellor = await MlsClient.create();
    for (const kp of request.key_packages) await counsellor.validateKeyPackage(kp, server.clientId!);
    expect(server.clientId).toEqual(intake.mls.clientId);

    expect(states.map((s) => s.kind)).toEqual(["connecting", "waiting"]);
    expect(states.at(-1)).toMatchObject({ kind: "waiting", position: 3, estimatedWaitSecs: 540 });

    server.push({ type: "ticket_update", ticket: { ticket_id: 77, status: { state: "waiting", position: 1, estimated_wait_secs: 60 }, resume_grace_secs: 600 } });
    expect(states.at(-1)).toMatchObject({ kind: "waiting", position: 1, estimatedWaitSecs: 60 });
    // The resume secret came once and is kept (in memory) across updates.
    const last = states.at(-1);
    expect(last?.kind === "waiting" && last.ticket.resume_secret).toEqual(new Uint8Array(16).fill(5));

    // Nobody on shift: said so, instead of a time.
    server.push({
      type: "ticket_update",
      ticket: { ticket_id: 77, status: { state: "waiting", position: 1, estimated_wait_secs: 180, nobody_available: true }, resume_grace_secs: 600 },
    });
    expect(states.at(-1)).toMatchObject({ kind: "waiting", nobodyAvailable: true });

    // SOS while waiting: the chat says what it did.
    await intake.sos();
    const afterSos = states.at(-1);
    expect(afterSos?.kind === "waiting" && afterSos.lines.map((l) => l.kind === "system" && l.event)).toEqual(["sos_urgent"]);

    await intake.cancel();
    expect(server.received.at(-1)?.req).toEqual({ op: "cancel_ticket", ticket_id: 77 });
    expect(states.at(-1)).toMatchObject({ kind: "closed", reason: "cancelled" });
    // Open for the one feedback answer, then closed.
    expect(server.closedWith).toBeUndefined();
    await intake.feedback("somewhat");
    expect(server.received.at(-1)?.req).toEqual({ op: "chat_feedback", answer: "somewhat" });
    expect(server.closedWith).toBe(1000);
    expect(intake.mls.storedKeyPackages).toBe(0); // wiped
  });

  it("solves the proof of work when the server asks for it", async () => {
    const states: VisitorState[] = [];
    const intake = await VisitorIntake.create((s) => states.push(s));
    const server = new FakeServer();
    server.requirePow = true;
    await intake.start(server, { language: "sq", topic: "just_talk", urgent: false });
    const requests = server.received.filter((f) => f.req.op === "request_chat");
    expect(requests).toHaveLength(2);
    expect(requests[1]!.req).toHaveProperty("pow");
    expect(requests[0]!.req).not.toHaveProperty("urgent");
    expect(states.at(-1)).toMatchObject({ kind: "waiting" });
  });

  it("shows a refusal with its help, and a lost connection as offline", async () => {
    const states: VisitorState[] = [];
    const intake = await VisitorIntake.create((s) => states.push(s));
    const server = new FakeServer();
    server.send = function (data: Uint8Array) {
      const decoded = decodeClientFrame(data);
      if (!decoded.ok) return;
      const { id, req } = decoded.frame;
      if (req.op === "authenticate") {
        queueMicrotask(() => this.push({ type: "response", id, result: { kind: "authenticated", client_id: new Uint8Array(32), mailbox_head: 0, one_time_key_packages: 0, last_resort_key_package: false } }));
      } else {
        queueMicrotask(() => this.push({ type: "error", id, code: "busy", message: "queue full", retry_after_secs: 30, help }));
      }
    };
    await intake.start(server, { language: "en", topic: "violence", urgent: false });
    expect(states.at(-1)).toEqual({ kind: "refused", code: "busy", help, retryAfterSecs: 30 });

    const offline: VisitorState[] = [];
    const second = await VisitorIntake.create((s) => offline.push(s));
    const dead = new FakeServer();
    const started = second.start(dead, { language: "en", topic: "violence", urgent: false });
    dead.onclose?.({ code: 1006 } as CloseEvent);
    await started;
    await flush();
    expect(offline.at(-1)).toEqual({ kind: "offline" });
  });

  it("a dropped socket comes back with the same identity; a replaced one does not", async () => {
    const states: VisitorState[] = [];
    const sockets: FakeServer[] = [];
    const intake = await VisitorIntake.create(
      (s) => states.push(s),
      () => {
        const socket = new FakeServer();
        sockets.push(socket);
        return socket;
      },
    );
    const first = new FakeServer();
    await intake.start(first, { language: "mk", topic: "health", urgent: false });
    first.onclose?.({ code: 1006 } as CloseEvent);
    expect(states.at(-1)).toMatchObject({ kind: "waiting", reconnecting: true });
    for (let i = 0; i < 100 && sockets[0]?.clientId === undefined; i++) await new Promise((r) => setTimeout(r, 20));
    expect(sockets).toHaveLength(1);
    expect(sockets[0]?.clientId).toEqual(first.clientId);
    await flush();
    expect(states.at(-1)).toMatchObject({ kind: "waiting", reconnecting: false });

    sockets[0]?.onclose?.({ code: 4001 } as CloseEvent);
    await new Promise((r) => setTimeout(r, 700));
    expect(sockets).toHaveLength(1);
    expect(states.at(-1)).toEqual({ kind: "offline" });
  });
});
