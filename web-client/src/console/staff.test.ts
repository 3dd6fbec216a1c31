// StaffConsole end to end in one process: a fake server socket speaking
// real protocol frames (challenge, staff_session authentication with the
// signature checked, subscribe, intake_info, key packages), pushes routed
// to their part, and what happens after each close code: reconnect with
// the same key and take the shift up again, or stop.

import { describe, expect, it } from "vitest";

import type { SocketLike } from "../net/connection";
import {
  CLOSE,
  type ClientFrame,
  type Response,
  type ServerMessage,
  decodeClientFrame,
  encodeServerFrame,
  verifyChallenge,
} from "../protocol";
import { ME, ticket } from "../testing/console";
import { type ConsoleState, KEY_PACKAGE_STOCK, MOVED_NOTICE, StaffConsole } from "./staff";

class FakeStaffServer implements SocketLike {
  binaryType: BinaryType = "blob";
  readyState = 1;
  onopen: SocketLike["onopen"] = null;
  private listener: SocketLike["onmessage"] = null;
  onclose: SocketLike["onclose"] = null;
  onerror: SocketLike["onerror"] = null;
  readonly received: ClientFrame[] = [];
  readonly nonce = new Uint8Array(32).fill(4);
  clientId: Uint8Array | undefined;
  /** Refuse the session (it ended while the console was away). */
  sessionGone = false;

  constructor(readonly log: ClientFrame[]) {}

  get onmessage(): SocketLike["onmessage"] {
    return this.listener;
  }

  /** The challenge goes out once the client listens (the console makes its keys first). */
  set onmessage(listener: SocketLike["onmessage"]) {
    const first = this.listener === null;
    this.listener = listener;
    if (first && listener !== null) queueMicrotask(() => this.push({ type: "challenge", nonce: this.nonce, versions: [1] }));
  }

  push(msg: ServerMessage): void {
    const bytes = encodeServerFrame({ v: 1, msg });
    this.listener?.({ data: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) } as MessageEvent);
  }

  /** The server closes the socket with `code`. */
  drop(code: number): void {
    this.readyState = 3;
    this.onclose?.({ code } as CloseEvent);
  }

  private answer(id: number, result: Response): void {
    queueMicrotask(() => this.push({ type: "response", id, result }));
  }

  send(data: Uint8Array): void {
    const decoded = decodeClientFrame(data);
    if (!decoded.ok) throw new Error(`bad frame: ${decoded.error.message}`);
    const { id, req } = decoded.frame;
    this.received.push(decoded.frame);
    this.log.push(decoded.frame);
    switch (req.op) {
      case "authenticate":
        if (req.proof.method !== "staff_session" || req.proof.token !== "tok") throw new Error("not a staff session");
        if (!verifyChallenge(this.nonce, req.proof)) throw new Error("bad signature");
        if (this.sessionGone) {
          queueMicrotask(() => this.push({ type: "error", id, code: "authentication_failed", message: "session ended" }));
          return;
        }
        this.clientId = req.proof.public_key;
        return this.answer(id, { kind: "authenticated", client_id: req.proof.public_key, mailbox_head: 0, one_time_key_packages: 0, last_resort_key_package: false, staff: ME });
      case "subscribe":
        return this.answer(id, { kind: "subscribed", head: 0 });
      case "intake_info":
        return this.answer(id, {
          kind: "intake_info",
          open: true,
          languages: ["mk"],
          topics: ["health"],
          closing_tags: ["support", "referral"],
          time_zone: "Europe/Skopje",
          opening_hours: [],
          help: { crisis_lines: [] },
          attestation_key: new Uint8Array(32),
        });
      case "publish_key_packages":
        return this.answer(id, { kind: "key_packages_published", one_time: req.key_packages.length, last_resort: req.replace === true });
      case "set_shift":
        return this.answer(id, { kind: "shift", state: req.state, active_chats: 0 });
      case "queue_view":
        return this.answer(id, { kind: "queue", tickets: [ticket(1)] });
      default:
        throw new Error(`unexpected ${req.op}`);
    }
  }

  close(): void {
    this.readyState = 3;
  }
}

async function until(what: () => boolean, ms = 4000): Promise<void> {
  const end = Date.now() + ms;
  while (!what()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function connected() {
  const log: ClientFrame[] = [];
  const sockets: FakeStaffServer[] = [new FakeStaffServer(log)];
  const states: ConsoleState[] = [];
  const closed: number[] = [];
  const openSocket = () => {
    const s = new FakeStaffServer(log);
    sockets.push(s);
    return s;
  };
  const staff = await StaffConsole.connect(sockets[0] as FakeStaffServer, "tok", { changed: (s) => states.push(s), closed: (c) => closed.push(c) }, openSocket);
  return { staff, sockets, states, closed, log, ops: () => log.map((f) => f.req.op) };
}

describe("StaffConsole", () => {
  it("opens a staff session with a fresh key and stocks key packages", async () => {
    const { staff, sockets, ops, log } = await connected();
    expect(ops()).toEqual(["authenticate", "subscribe", "intake_info", "publish_key_packages"]);
    expect(sockets[0]?.clientId).toEqual(staff.clientId);
    const publish = log[3]?.req;
    expect(publish).toMatchObject({ op: "publish_key_packages", replace: true });
    expect(publish?.op === "publish_key_packages" && publish.key_packages).toHaveLength(KEY_PACKAGE_STOCK + 1);
    expect(staff.state).toMatchObject({ me: ME, shift: "clocked_in", connected: true, closingTags: ["support", "referral"], persistent: false });
  });

  it("routes pushes to their part: an offer, then the queue", async () => {
    const { staff, sockets, ops } = await connected();
    sockets[0]?.push({ type: "offer", ticket: ticket(5), expires_in_secs: 30 });
    expect(staff.state.offers.map((o) => o.ticket.ticket_id)).toEqual([5]);
    sockets[0]?.push({ type: "queue_changed", depth: 1, longest_wait_secs: 10 });
    await until(() => staff.state.queue.length === 1);
    expect(ops().at(-1)).toBe("queue_view");
  });

  it("a dropped socket comes back with the same key and takes the shift up again", async () => {
    const { staff, sockets, states, closed, ops } = await connected();
    await staff.setShift("available");
    sockets[0]?.drop(1006);
    expect(staff.state.connected).toBe(false);
    await until(() => staff.state.connected);
    expect(sockets).toHaveLength(2);
    expect(sockets[1]?.clientId).toEqual(staff.clientId);
    await until(() => ops().filter((op) => op === "set_shift").length === 2);
    expect(ops().slice(-4)).toEqual(["authenticate", "subscribe", "set_shift", "queue_view"]);
    expect(closed).toEqual([]);
    expect(states.some((s) => !s.connected)).toBe(true);
  });

  it("a session that ended is not reconnected", async () => {
    const { sockets, closed } = await connected();
    sockets[0]?.drop(CLOSE.SESSION_ENDED);
    expect(closed).toEqual([CLOSE.SESSION_ENDED]);
    await new Promise((r) => setTimeout(r, 700));
    expect(sockets).toHaveLength(1);
  });

  it("replaced by another tab: stops and says so, without reconnecting", async () => {
    const { staff, sockets, closed } = await connected();
    sockets[0]?.drop(CLOSE.REPLACED);
    expect(closed).toEqual([CLOSE.REPLACED]);
    expect(staff.state.problem).toBe(MOVED_NOTICE);
    await new Promise((r) => setTimeout(r, 700));
    expect(sockets).toHaveLength(1);
  });

  it("a session that died while away sends the console back to the login", async () => {
    const { sockets, closed } = await connected();
    const openSocketCount = sockets.length;
    // Every new socket finds the session gone.
    const original = sockets.push.bind(sockets);
    sockets.push = (...s: FakeStaffServer[]) => {
      for (const socket of s) socket.sessionGone = true;
      return original(...s);
    };
    sockets[0]?.drop(CLOSE.GOING_AWAY);
    await until(() => closed.length > 0);
    expect(closed).toEqual([CLOSE.SESSION_ENDED]);
    expect(sockets.length).toBe(openSocketCount + 1);
  });
});
