// Shift, queue and offers against a fake connection: what goes out, and
// what the console's state becomes on the answers and pushes that come in.

import { describe, expect, it } from "vitest";

import { FakeConsole, bytes, ticket } from "../testing/console";
import { hex } from "../util/hex";
import { QueueDesk } from "./queue";

function desk() {
  const fake = new FakeConsole();
  return { fake, queue: new QueueDesk(fake.core) };
}

describe("offers", () => {
  it("an offer push lists the offer once per ticket and tells the page", () => {
    const { fake, queue } = desk();
    queue.push({ type: "offer", ticket: ticket(5), expires_in_secs: 30 });
    queue.push({ type: "offer", ticket: ticket(5, { urgent: true }), expires_in_secs: 30 });
    queue.push({ type: "offer", ticket: ticket(6), expires_in_secs: 30 });
    expect(fake.core.state.offers.map((o) => [o.ticket.ticket_id, o.ticket.urgent])).toEqual([
      [5, true],
      [6, false],
    ]);
    expect(fake.offers).toHaveLength(3);
    const expiresAt = fake.core.state.offers[0]?.expiresAt ?? 0;
    expect(expiresAt - Date.now()).toBeGreaterThan(25_000);
  });

  it("a withdrawn offer leaves; declining asks the server and drops it", async () => {
    const { fake, queue } = desk();
    queue.push({ type: "offer", ticket: ticket(5), expires_in_secs: 30 });
    queue.push({ type: "offer", ticket: ticket(6), expires_in_secs: 30 });
    queue.push({ type: "offer_withdrawn", ticket_id: 5 });
    expect(fake.core.state.offers.map((o) => o.ticket.ticket_id)).toEqual([6]);
    await queue.declineOffer(6);
    expect(fake.requests).toEqual([{ op: "decline_offer", ticket_id: 6 }]);
    expect(fake.core.state.offers).toEqual([]);
  });
});

describe("queue and shift", () => {
  it("queue_changed sets the depth and fetches the queue", async () => {
    const { fake, queue } = desk();
    fake.answer("queue_view", { kind: "queue", tickets: [ticket(1), ticket(2)] });
    queue.push({ type: "queue_changed", depth: 9, longest_wait_secs: 60 });
    expect(fake.core.state.queueDepth).toBe(9);
    await fake.settle();
    expect(fake.ops).toEqual(["queue_view"]);
    expect(fake.core.state.queue.map((t) => t.ticket_id)).toEqual([1, 2]);
    expect(fake.core.state.queueDepth).toBe(2);
  });

  it("setting the shift sends it (with the hand-over when asked), keeps it and refreshes the queue", async () => {
    const { fake, queue } = desk();
    fake.answer("set_shift", { kind: "shift", state: "available" } as never).answer("queue_view", { kind: "queue", tickets: [ticket(3)] });
    await queue.setShift("available");
    expect(fake.requests).toEqual([{ op: "set_shift", state: "available" }, { op: "queue_view" }]);
    expect(fake.core.state.shift).toBe("available");
    expect(fake.saved.shifts).toEqual(["available"]);

    fake.answer("set_shift", { kind: "shift", state: "clocked_out" } as never);
    await queue.setShift("clocked_out", true);
    // Clocked out: no queue to look at.
    expect(fake.requests.slice(2)).toEqual([{ op: "set_shift", state: "clocked_out", handover: true }]);
    expect(fake.core.state.shift).toBe("clocked_out");
  });

  it("a refused shift change leaves the state as it was", async () => {
    const { fake, queue } = desk();
    fake.answer("set_shift", new Error("handover_required"));
    await expect(queue.setShift("clocked_out")).rejects.toThrow("handover_required");
    expect(fake.core.state.shift).toBe("clocked_in");
    expect(fake.saved.shifts).toEqual([]);
  });
});

describe("accepting a ticket", () => {
  it("a new chat: accept, create the group, attach it, add the visitor", async () => {
    const { fake, queue } = desk();
    queue.push({ type: "offer", ticket: ticket(8), expires_in_secs: 30 });
    const visitorKp = bytes(0x77, 40);
    fake.answer("accept_ticket", { kind: "ticket_accepted", ticket: ticket(8), key_package: visitorKp } as never);
    const c = await queue.accept(8);
    expect(fake.ops.slice(0, 2)).toEqual(["accept_ticket", "attach_chat"]);
    expect(fake.requests[1]).toEqual({ op: "attach_chat", ticket_id: 8, group_id: c.groupId });
    expect(fake.mlsCalls).toEqual([{ op: "commitAdd", group: hex(c.groupId), keyPackages: [{ kp: hex(visitorKp) }] }]);
    expect(c.kind).toBe("chat");
    expect(c.joined).toBe(true);
    expect(c.title).toBe("health");
    expect(fake.lines(c.groupId)).toEqual(["The visitor was added to the chat."]);
    expect(fake.core.state.offers).toEqual([]);
    await fake.settle();
    expect(fake.ops).toContain("queue_view");
  });

  it("a group the server would not attach is thrown away", async () => {
    const { fake, queue } = desk();
    fake.answer("accept_ticket", { kind: "ticket_accepted", ticket: ticket(8), key_package: bytes(1, 40) } as never);
    fake.answer("attach_chat", new Error("ticket_not_found"));
    await expect(queue.accept(8)).rejects.toThrow("ticket_not_found");
    expect(fake.mlsCalls.map((c) => c.op)).toEqual(["discardGroup"]);
    expect(fake.core.conversations.size).toBe(0);
  });

  it("a hand-over waits for the visitor's device to add me", async () => {
    const { fake, queue } = desk();
    const groupId = bytes(0x33);
    fake.answer("accept_ticket", { kind: "ticket_accepted", ticket: ticket(9, { handover: true }), group_id: groupId } as never);
    const c = await queue.accept(9);
    expect(c.joined).toBe(false);
    expect(fake.lines(groupId)).toEqual(["Handed-over chat: waiting for the visitor's device to add you."]);
    expect(fake.mlsCalls).toEqual([]);
  });
});

describe("board", () => {
  it("reads the board, with no stranded chats when the server sends none", async () => {
    const { fake, queue } = desk();
    fake.answer("board", { kind: "board", queue_depth: 2, longest_wait_secs: 90, staff: [], open_escalations: 1 } as never);
    expect(await queue.board()).toEqual({ queueDepth: 2, longestWaitSecs: 90, staff: [], stranded: [], openEscalations: 1 });
  });

  it("rescues a chat to a colleague or to me", async () => {
    const { fake, queue } = desk();
    const badge = fake.core.state.me.badge;
    fake.answer("rescue_chat", { kind: "chat_rescued", to: badge } as never).answer("rescue_chat", { kind: "chat_rescued", to: badge } as never);
    await queue.rescueChat(bytes(1), 4);
    await queue.rescueChat(bytes(1));
    expect(fake.requests).toEqual([
      { op: "rescue_chat", group_id: bytes(1), to: 4 },
      { op: "rescue_chat", group_id: bytes(1) },
    ]);
  });
});
