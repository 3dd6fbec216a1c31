// The mailbox session against a server that lost the tail of a mailbox
// (a damaged data directory): the session is told the server's head on
// reconnecting, resynchronises to it and says so, instead of dropping the
// new envelopes that reuse the lost seqs as already seen.

import { describe, expect, it } from "vitest";

import type { MlsClient } from "../mls";
import type { Connection, Push } from "../net/connection";
import type { Envelope } from "../protocol";
import { MailboxSession } from "./session";

function fakeConnection(sent: unknown[]): Connection {
  return {
    request: async (frame: unknown) => {
      sent.push(frame);
      return { kind: "ok" };
    },
  } as unknown as Connection;
}

const mls = {
  processEnvelope: async (envelope: Envelope) => ({ type: "message", seq: envelope.seq }),
} as unknown as MlsClient;

function push(seq: number): Push {
  const envelope = { seq, group_id: new Uint8Array([1]), kind: "application", epoch: 0, message: new Uint8Array([seq]) };
  return { type: "envelope", envelope } as unknown as Push;
}

async function until(done: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !done(); i++) await new Promise((r) => setTimeout(r, 0));
  expect(done()).toBe(true);
}

describe("MailboxSession after a server lost envelopes", () => {
  it("resynchronises to a head below its cursor, and says so", async () => {
    const sent: unknown[] = [];
    const seen: number[] = [];
    const problems: string[] = [];
    const session = new MailboxSession(
      fakeConnection(sent),
      mls,
      (_event, envelope) => seen.push(envelope.seq),
      (what) => problems.push(what),
    );
    await session.subscribe(0);
    for (const seq of [1, 2, 3, 4, 5]) session.push(push(seq));
    await until(() => seen.length === 5);

    // The server lost 4 and 5: its head is 3, and its next envelope is 4.
    await session.reconnected(fakeConnection(sent), 3);
    expect(sent.at(-1)).toEqual({ op: "subscribe", after: 3 });
    expect(problems).toHaveLength(1);
    session.push(push(4));
    await until(() => seen.length === 6);
    expect(seen).toEqual([1, 2, 3, 4, 5, 4]);
  });

  it("keeps its cursor when the server's head is at or above it", async () => {
    const sent: unknown[] = [];
    const problems: string[] = [];
    const session = new MailboxSession(fakeConnection(sent), mls, () => {}, (what) => problems.push(what));
    await session.subscribe(7);
    await session.reconnected(fakeConnection(sent), 9);
    expect(sent.at(-1)).toEqual({ op: "subscribe", after: 7 });
    expect(problems).toHaveLength(0);
  });
});

describe("MailboxSession closed by what it processes", () => {
  it("sends no ack on the socket it closed (removed from a circle)", async () => {
    const sent: unknown[] = [];
    let closes = 0;
    const connection = Object.assign(fakeConnection(sent), { close: () => (closes += 1) });
    const seen: number[] = [];
    const session: MailboxSession = new MailboxSession(
      connection,
      mls,
      (_event, envelope) => {
        seen.push(envelope.seq);
        session.close();
      },
      () => {},
    );
    await session.subscribe(0);
    session.push(push(1));
    await until(() => seen.length === 1);
    await new Promise((r) => setTimeout(r, 10));
    expect(closes).toBe(1);
    expect(sent).toEqual([{ op: "subscribe", after: 0 }]);
  });
});
