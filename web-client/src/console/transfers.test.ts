// Transfers, closing, blocking and the intake's duties, against the fake
// connection and MLS client.

import { describe, expect, it } from "vitest";

import { FakeConsole, bytes, ticket } from "../testing/console";
import { hex } from "../util/hex";
import { Transfers } from "./transfers";

const G = bytes(1);

function desk() {
  const fake = new FakeConsole();
  const sent: Array<[string, string]> = [];
  const transfers = new Transfers(fake.core, async (g, text) => void sent.push([hex(g), text]));
  return { fake, sent, transfers };
}

describe("transfer", () => {
  it("asks the server, says who takes over, and sends no note when there is none", async () => {
    const { fake, sent, transfers } = desk();
    fake.core.conversation(G, "chat", ticket(4));
    const to = { ...fake.core.state.me.badge, display_name: "Besa" };
    fake.answer("transfer_chat", { kind: "transferred", to, note_key_package: bytes(5, 40) } as never);
    expect((await transfers.transfer(G, "  ", 12)).display_name).toBe("Besa");
    expect(fake.requests).toEqual([{ op: "transfer_chat", group_id: G, to: 12 }]);
    expect(fake.lines(G)).toEqual(["Transferred to Besa. They will remove you once they are in."]);
    expect(sent).toEqual([]);
  });

  it("refuses to seal a note to a colleague whose badge does not verify", async () => {
    const { fake, sent, transfers } = desk();
    fake.core.conversation(G, "chat", ticket(4));
    fake.core.attestationKey = new Uint8Array(32).fill(3);
    fake.answer("transfer_chat", { kind: "transferred", to: fake.core.state.me.badge, note_key_package: bytes(5, 40) } as never);
    await expect(transfers.transfer(G, "she prefers Albanian")).rejects.toThrow("badge does not verify");
    expect(fake.requests).toEqual([{ op: "transfer_chat", group_id: G }]);
    expect(sent).toEqual([]);
    expect(fake.mlsCalls).toEqual([]);
  });
});

describe("close and block", () => {
  it("close sends the tag and ends the chat", async () => {
    const { fake, transfers } = desk();
    fake.groups.add(hex(G));
    fake.core.conversation(G, "chat", ticket(4));
    await transfers.close(G, "support");
    expect(fake.requests).toEqual([{ op: "close_chat", group_id: G, tag: "support" }]);
    expect(fake.core.find(G)?.ended).toBe(true);
    expect(fake.lines(G)).toEqual(["Closed (Support)."]);
    expect(fake.groups.has(hex(G))).toBe(false);
  });

  it("block needs a visitor's chat and names its ticket", async () => {
    const { fake, transfers } = desk();
    fake.core.conversation(bytes(2), "peer");
    await expect(transfers.block(bytes(2), 3600, "abuse")).rejects.toThrow("not a visitor's chat");
    expect(fake.requests).toEqual([]);
    fake.core.conversation(G, "chat", ticket(4));
    await transfers.block(G, 3600, "abuse");
    expect(fake.requests).toEqual([{ op: "block_visitor", ticket_id: 4, duration_secs: 3600, reason: "abuse" }]);
    expect(fake.lines(G)).toEqual(["The visitor was blocked; the chat is closed."]);
  });
});

describe("pushes and duties", () => {
  it("a chat handed to me names the colleague and removes them once I am in", async () => {
    const { fake, transfers } = desk();
    const from = { ...fake.core.state.me.badge, display_name: "Besa", signature_key: bytes(0xbb, 32) };
    fake.groups.add(hex(G));
    transfers.push({ type: "chat_assigned", group_id: G, ticket: ticket(4), from, remove_previous: bytes(0xbb, 32) });
    await fake.settle();
    expect(fake.core.find(G)?.names.get(hex(bytes(0xbb, 32)))).toBe("Besa");
    expect(fake.mlsCalls).toEqual([{ op: "commitRemove", group: hex(G), clients: [hex(bytes(0xbb, 32))] }]);
    expect(fake.lines(G)).toEqual(["Besa left the chat to you: it is yours now.", "The previous counsellor was removed from the chat."]);
  });

  it("never removes myself", async () => {
    const { fake, transfers } = desk();
    fake.groups.add(hex(G));
    transfers.push({ type: "chat_assigned", group_id: G, ticket: ticket(4), remove_previous: fake.clientId });
    transfers.push({ type: "remove_revoked_members", group_id: G, clients: [bytes(2, 32), fake.clientId] });
    await fake.settle();
    expect(fake.mlsCalls).toEqual([]);
  });

  it("a visitor back on a new key is removed and added in one commit", async () => {
    const { fake, transfers } = desk();
    fake.groups.add(hex(G));
    fake.members.set(hex(G), [hex(bytes(0x11, 32)), hex(fake.clientId)]);
    fake.core.conversation(G, "chat", ticket(4));
    transfers.push({ type: "readd_visitor", group_id: G, old_client: bytes(0x11, 32), key_package: bytes(0x12, 40) });
    await fake.settle();
    expect(fake.mlsCalls).toEqual([{ op: "commitReplace", group: hex(G), remove: [hex(bytes(0x11, 32))], add: [{ kp: hex(bytes(0x12, 40)) }] }]);
    expect(fake.lines(G).at(-1)).toBe("The visitor came back on a new device key and was added again.");
  });

  it("a duty for a group I never joined becomes a problem line", async () => {
    const { fake, transfers } = desk();
    await transfers.duty({ kind: "remove_revoked", groupId: G, clients: [bytes(2, 32)] });
    expect(fake.core.state.problem).toBe("A chat was not joined in time; hand it back and take it again.");
    expect(fake.mlsCalls).toEqual([]);
  });

  it("chat_ended ends the chat", () => {
    const { fake, transfers } = desk();
    fake.core.conversation(G, "chat", ticket(4));
    transfers.push({ type: "chat_ended", group_id: G, ticket_id: 4 });
    expect(fake.core.find(G)?.ended).toBe(true);
  });
});
