import { describe, expect, it } from "vitest";

import { FakeConsole, bytes } from "../testing/console";
import { hex } from "../util/hex";
import { TeamDesk } from "./team";

const G = bytes(1);
const KEY = "ab".repeat(32);

describe("team messages", () => {
  it("the waiting list follows the push; taking one makes it the visitor's conversation", async () => {
    const fake = new FakeConsole();
    const team = new TeamDesk(fake.core);
    team.push({ type: "team_messages_waiting", messages: [{ group_id: G, language: "sq", left_at: 1 }, { group_id: bytes(2), language: "mk", left_at: 2 }] });
    expect(fake.core.state.teamMessages).toHaveLength(2);
    // Read before it was taken: shown by key.
    const early = fake.core.conversation(G, "note");
    early.lines = [{ kind: "theirs", id: 1, text: "I need help", from: "12345678" }];
    await team.takeTeamMessage(G);
    expect(fake.requests).toEqual([{ op: "take_team_message", group_id: G }]);
    const c = fake.core.find(G);
    expect(c).toMatchObject({ kind: "team", title: "Message left for the team" });
    expect(c?.lines).toEqual([{ kind: "theirs", id: 1, text: "I need help", from: "Visitor" }]);
    expect(fake.core.state.teamMessages.map((m) => hex(m.group_id))).toEqual([hex(bytes(2))]);
  });
});

describe("peer groups", () => {
  it("a new peer group has me in it", async () => {
    const fake = new FakeConsole();
    const c = await new TeamDesk(fake.core).createPeerGroup("");
    expect(c).toMatchObject({ kind: "peer", title: "Peer group", joined: true });
    expect(fake.groups.has(hex(c.groupId))).toBe(true);
  });

  it("invites by device key: claims a key package, then commits the add", async () => {
    const fake = new FakeConsole();
    const team = new TeamDesk(fake.core);
    fake.core.conversation(G, "peer");
    fake.answer("claim_key_package", { kind: "key_package", key_package: bytes(9, 40) } as never);
    await team.invite(G, `${KEY} `);
    expect(fake.requests).toEqual([{ op: "claim_key_package", client_id: bytes(0xab, 32) }]);
    expect(fake.mlsCalls).toEqual([{ op: "commitAdd", group: hex(G), keyPackages: [{ kp: hex(bytes(9, 40)) }] }]);
    expect(fake.lines(G)).toEqual(["A colleague was invited."]);
  });

  it("a key that is not 64 hex digits asks nothing of the server", async () => {
    const fake = new FakeConsole();
    const team = new TeamDesk(fake.core);
    await expect(team.invite(G, "abcd")).rejects.toThrow("64 hex digits");
    await expect(team.removeMember(G, "abcd")).rejects.toThrow("64 hex digits");
    expect(fake.requests).toEqual([]);
    expect(fake.mlsCalls).toEqual([]);
  });

  it("removing a member names them by the name bound to their key", async () => {
    const fake = new FakeConsole();
    const team = new TeamDesk(fake.core);
    fake.core.conversation(G, "circle").names.set(KEY, "Drita");
    await team.removeMember(G, KEY);
    expect(fake.mlsCalls).toEqual([{ op: "commitRemove", group: hex(G), clients: [KEY] }]);
    expect(fake.lines(G)).toEqual(["Removed Drita"]);
  });

  it("leaving drops my keys and the conversation", () => {
    const fake = new FakeConsole();
    const team = new TeamDesk(fake.core);
    fake.groups.add(hex(G));
    fake.core.conversation(G, "peer");
    team.leave(G);
    expect(fake.groups.has(hex(G))).toBe(false);
    expect(fake.core.find(G)).toBeUndefined();
    expect(team.members(G)).toEqual([]);
  });
});
