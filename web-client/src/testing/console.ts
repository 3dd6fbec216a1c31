// A ConsoleCore for unit tests of the console's parts: the real core with
// a fake connection (records every request, answers from a script), a fake
// mailbox session and a fake MLS client that write down what they were
// asked to do. No socket, no cryptography: each part's state transitions
// and requests are what the tests look at.

import type { MailboxSession } from "../chat/session";
import type { MlsClient } from "../mls";
import type { QueueEntry, Request, Response, StaffSelf } from "../protocol";
import { type ConsoleEvents, ConsoleCore, type ConsoleState, type ConsoleStore, initialState } from "../console/core";
import { hex } from "../util/hex";

type Answer = Response | Error | ((req: Request) => Response | Error);

export const ME: StaffSelf = {
  account_id: 7,
  role: "counsellor",
  display_name: "Ana",
  languages: ["mk", "en"],
  max_chats: 3,
  badge: { display_name: "Ana", role: "counsellor", signature_key: new Uint8Array(32).fill(1), expires_at: 0, attestation: new Uint8Array(64) },
};

export function ticket(id: number, extra: Partial<QueueEntry> = {}): QueueEntry {
  return { ticket_id: id, language: "mk", topic: "health", urgent: false, waited_secs: 30, offered: true, ...extra };
}

export function bytes(fill: number, length = 16): Uint8Array {
  return new Uint8Array(length).fill(fill);
}

/** What the fake MLS client and session were asked to do, in order. */
export type MlsCall =
  | { op: "commitAdd"; group: string; keyPackages: unknown[] }
  | { op: "commitRemove"; group: string; clients: string[] }
  | { op: "commitReplace"; group: string; remove: string[]; add: unknown[] }
  | { op: "discardGroup"; group: string }
  | { op: "sendText"; group: string; text: string }
  | { op: "sendSignal"; group: string; signal: string };

export class FakeConsole {
  readonly requests: Request[] = [];
  readonly mlsCalls: MlsCall[] = [];
  readonly changes: ConsoleState[] = [];
  readonly offers: unknown[] = [];
  readonly alerts: string[] = [];
  readonly messages: string[] = [];
  readonly closed: number[] = [];
  readonly saved: { conversations: string[]; shifts: string[]; forgotten: string[] } = { conversations: [], shifts: [], forgotten: [] };
  /** Groups (hex) the fake MLS client is a member of. */
  readonly groups = new Set<string>();
  /** Group members (hex client ids) per group (hex), for commitReplace. */
  readonly members = new Map<string, string[]>();
  readonly clientId = bytes(0xcc, 32);
  private readonly script = new Map<string, Answer[]>();
  private nextGroup = 1;
  sendFails = false;
  core: ConsoleCore;

  constructor(me: StaffSelf = ME) {
    const events: ConsoleEvents = {
      changed: (s) => this.changes.push(s),
      offered: (o) => this.offers.push(o),
      alerted: (what) => this.alerts.push(what),
      message: (c) => this.messages.push(c.title),
      closed: (code) => this.closed.push(code),
    };
    this.core = new ConsoleCore(this.fakeMls(), events);
    this.core.session = this.fakeSession();
    this.core.state = initialState(me, false);
    const store: ConsoleStore = {
      saveConversation: (c) => this.saved.conversations.push(c.title),
      saveShift: (s) => this.saved.shifts.push(s),
      forgetGroup: (g) => this.saved.forgotten.push(hex(g)),
    };
    this.core.store = store;
  }

  /** The next request with this op gets `answer` (answers queue up per op). */
  answer(op: Request["op"], answer: Answer): this {
    const queue = this.script.get(op) ?? [];
    queue.push(answer);
    this.script.set(op, queue);
    return this;
  }

  /** The ops of the requests sent, in order. */
  get ops(): string[] {
    return this.requests.map((r) => r.op);
  }

  lines(groupId: Uint8Array): string[] {
    return (this.core.find(groupId)?.lines ?? []).map((l) => l.text);
  }

  /** Let promises started without await settle. */
  async settle(): Promise<void> {
    for (let i = 0; i < 10; i += 1) await new Promise((r) => setTimeout(r, 0));
  }

  private async request(req: Request): Promise<Response> {
    this.requests.push(req);
    const answer = this.script.get(req.op)?.shift();
    if (answer === undefined) return { kind: "ok" } as unknown as Response;
    const result = typeof answer === "function" ? answer(req) : answer;
    if (result instanceof Error) throw result;
    return result;
  }

  private fakeMls(): MlsClient {
    const fake = {
      clientId: this.clientId,
      hasGroup: (g: Uint8Array) => this.groups.has(hex(g)),
      discardGroup: (g: Uint8Array) => {
        this.groups.delete(hex(g));
        this.mlsCalls.push({ op: "discardGroup", group: hex(g) });
      },
      parseKeyPackage: async (kp: Uint8Array) => ({ keyPackage: { kp: hex(kp) }, owner: kp.slice(0, 32) }),
      validateKeyPackage: async (kp: Uint8Array, _key: Uint8Array) => ({ kp: hex(kp) }),
      commitAdd: (g: Uint8Array, keyPackages: unknown[]) => this.mlsCalls.push({ op: "commitAdd", group: hex(g), keyPackages }),
      commitRemove: (g: Uint8Array, clients: Uint8Array[]) => this.mlsCalls.push({ op: "commitRemove", group: hex(g), clients: clients.map(hex) }),
      commitReplace: (g: Uint8Array, remove: Uint8Array[], add: unknown[]) =>
        this.mlsCalls.push({ op: "commitReplace", group: hex(g), remove: remove.map(hex), add }),
      members: (g: Uint8Array) => (this.members.get(hex(g)) ?? []).map((m) => ({ clientId: Uint8Array.from(m.match(/../g) ?? [], (x) => parseInt(x, 16)) })),
      // A group's "state" here is its id: importing it makes me a member again.
      importGroup: (state: Uint8Array) => {
        this.groups.add(hex(state));
        return state;
      },
      exportGroup: (g: Uint8Array) => g,
      groupIds: () => [...this.groups].map((g) => Uint8Array.from(g.match(/../g) ?? [], (x) => parseInt(x, 16))),
      exportKeyPackages: () => [],
      identity: {
        exportSecret: () => new Uint8Array(32).fill(0x5e),
        escalation: (groupId: Uint8Array, severity: string, category: string, issuedAt: number) => ({ group_id: groupId, severity, category, issued_at: issuedAt }),
      },
    };
    return fake as unknown as MlsClient;
  }

  private fakeSession(): MailboxSession {
    const fake = {
      connection: { request: (req: Request) => this.request(req) },
      createGroup: async () => {
        const id = bytes(0x40 + this.nextGroup++);
        this.groups.add(hex(id));
        return id;
      },
      commit: async (_g: Uint8Array, make: () => unknown) => {
        await make();
        return 1;
      },
      waitForGroup: async (g: Uint8Array) => this.groups.has(hex(g)),
      sendText: async (g: Uint8Array, text: string) => {
        this.mlsCalls.push({ op: "sendText", group: hex(g), text });
        if (this.sendFails) throw new Error("stale_epoch");
      },
      sendSignal: (g: Uint8Array, signal: string) => this.mlsCalls.push({ op: "sendSignal", group: hex(g), signal }),
      close: () => undefined,
    };
    return fake as unknown as MailboxSession;
  }
}
