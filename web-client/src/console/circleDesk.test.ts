// Moderating a peer support circle against the fake connection and MLS
// client: creating it, invitations, join requests, mute, remove, close, and
// bringing it back after a reload.

import { describe, expect, it } from "vitest";

import type { CircleInfo, JoinRequest } from "../protocol";
import { FakeConsole, bytes } from "../testing/console";
import { hex } from "../util/hex";
import { CircleDesk } from "./circleDesk";

const G = bytes(0x41);
const info = (patch: Partial<CircleInfo> = {}): CircleInfo => ({
  circle_id: 3,
  group_id: G,
  name: "Evenings",
  language: "sq",
  topic: "just_talk",
  auto_approve: false,
  moderator: true,
  members: 1,
  max_members: 12,
  ...patch,
});
const request = (id: number, fill: number): JoinRequest => ({
  request_id: id,
  circle_id: 3,
  client_id: bytes(fill, 32),
  display_name: `M${id}`,
  key_package: bytes(fill + 1, 40),
  requested_at: 1,
});

function desk() {
  const fake = new FakeConsole();
  const removed: string[] = [];
  const circles = new CircleDesk(fake.core, async (_g, key) => void removed.push(key));
  return { fake, removed, circles };
}

async function created(patch: Partial<CircleInfo> = {}) {
  const d = desk();
  d.fake.answer("create_circle", (req) => ({ kind: "circle", circle: info({ ...patch, group_id: (req as { group_id: Uint8Array }).group_id }) }));
  const view = await d.circles.createCircle("Evenings", "sq", "just_talk", patch.auto_approve === true);
  return { ...d, view, groupId: view.info.group_id };
}

describe("a circle I moderate", () => {
  it("is created around a new group of mine", async () => {
    const { fake, view, groupId } = await created({ auto_approve: true });
    expect(fake.requests).toEqual([{ op: "create_circle", group_id: groupId, name: "Evenings", language: "sq", topic: "just_talk", auto_approve: true }]);
    expect(fake.core.state.circles).toEqual([view]);
    expect(fake.core.find(groupId)).toMatchObject({ kind: "circle", title: "Circle · Evenings", joined: true });
  });

  it("a join request is listed once and alerts; declining drops it", async () => {
    const { fake, circles } = await created();
    circles.push({ type: "circle_join_request", request: request(1, 0x10) });
    circles.push({ type: "circle_join_request", request: request(1, 0x10) });
    expect(fake.core.state.circles[0]?.requests.map((r) => r.request_id)).toEqual([1]);
    expect(fake.alerts).toEqual(["Someone asks to join Evenings"]);
    await circles.decline(3, 1);
    expect(fake.requests.at(-1)).toEqual({ op: "decline_join", circle_id: 3, request_id: 1 });
    expect(fake.core.state.circles[0]?.requests).toEqual([]);
  });

  it("with auto-approve a request is added at once with its key package", async () => {
    const { fake, circles, groupId } = await created({ auto_approve: true });
    circles.push({ type: "circle_join_request", request: request(2, 0x20) });
    await fake.settle();
    expect(fake.mlsCalls).toEqual([{ op: "commitAdd", group: hex(groupId), keyPackages: [{ kp: hex(bytes(0x21, 40)) }] }]);
    const view = fake.core.state.circles[0];
    expect(view?.requests).toEqual([]);
    expect(view?.members).toEqual([{ key: hex(bytes(0x20, 32)), name: "M2", muted: false }]);
    expect(fake.core.find(groupId)?.names.get(hex(bytes(0x20, 32)))).toBe("M2");
    expect(fake.alerts).toEqual([]);
  });

  it("mutes by key, and a member who left is removed", async () => {
    const { fake, circles, removed } = await created({ auto_approve: true });
    circles.push({ type: "circle_join_request", request: request(2, 0x20) });
    await fake.settle();
    const key = hex(bytes(0x20, 32));
    await circles.setMuted(3, key, true);
    expect(fake.requests.at(-1)).toEqual({ op: "set_muted", circle_id: 3, client_id: bytes(0x20, 32), muted: true });
    expect(fake.core.state.circles[0]?.members[0]?.muted).toBe(true);
    circles.push({ type: "circle_member_left", circle_id: 3, client_id: bytes(0x20, 32) });
    await fake.settle();
    expect(removed).toEqual([key]);
    expect(fake.core.state.circles[0]?.members).toEqual([]);
  });

  it("invitations: a new one is listed, a revoked one marked", async () => {
    const { fake, circles } = await created();
    fake.answer("create_invitation", { kind: "invitation", invitation: { invitation_id: 9, circle_id: 3, code: "ABCDEFGHJKMN", expires_at: 1, max_uses: 5, uses: 0, revoked: false } });
    await circles.createInvitation(3, 7, 5);
    expect(fake.requests.at(-1)).toEqual({ op: "create_invitation", circle_id: 3, expires_in_secs: 604_800, max_uses: 5 });
    await circles.revokeInvitation(3, 9);
    expect(fake.core.state.circles[0]?.invitations.map((i) => [i.invitation_id, i.revoked])).toEqual([[9, true]]);
  });

  it("closing ends the conversation and forgets the circle", async () => {
    const { fake, circles, groupId } = await created();
    await circles.closeCircle(3);
    expect(fake.requests.at(-1)).toEqual({ op: "close_circle", circle_id: 3 });
    expect(fake.core.find(groupId)?.ended).toBe(true);
    expect(fake.groups.has(hex(groupId))).toBe(false);
    expect(fake.core.state.circles).toEqual([]);
  });
});

describe("after a reload", () => {
  it("brings back the circles whose group came back, with roster, requests and invitations", async () => {
    const { fake, circles } = desk();
    fake.groups.add(hex(G));
    fake.core.conversation(G, "circle");
    fake.answer("list_circles", { kind: "circles", circles: [info(), info({ circle_id: 4, group_id: bytes(0x42) }), info({ circle_id: 5, moderator: false })] });
    fake.answer("join_requests", { kind: "join_requests", circle_id: 3, requests: [request(1, 0x10)] } as never);
    fake.answer("circle_roster", {
      kind: "circle_roster",
      circle_id: 3,
      members: [
        { client_id: fake.clientId, display_name: "Ana", moderator: true },
        { client_id: bytes(0x30, 32), display_name: "Drita", moderator: false, muted: true },
      ],
    });
    fake.answer("list_invitations", { kind: "invitations", invitations: [] });
    await circles.restoreCircles();
    // Circle 4's group is not here and 5 is not mine: only 3 is asked about.
    expect(fake.ops).toEqual(["list_circles", "join_requests", "circle_roster", "list_invitations"]);
    const view = fake.core.state.circles[0];
    expect(fake.core.state.circles).toHaveLength(1);
    expect(view?.members).toEqual([{ key: hex(bytes(0x30, 32)), name: "Drita", muted: true }]);
    expect(view?.requests.map((r) => r.request_id)).toEqual([1]);
    expect(fake.core.find(G)?.names.get(hex(bytes(0x30, 32)))).toBe("Drita");
  });
});
