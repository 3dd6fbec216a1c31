// Peer support circles I moderate: create one around a new group of mine,
// invitations (codes shown once, kept only in this page), join requests
// (approve with the key package that came with the request, or decline),
// mute, remove, close; the roster's names are the ones the server bound to
// each key. After a reload the circles whose group came back are restored.

import { equalBytes } from "../mls";
import type { Push } from "../net/connection";
import type { InvitationState, JoinRequest } from "../protocol";
import { hex, hexBytes } from "../util/hex";
import { ct } from "../i18n/console";
import type { CircleView, ConsoleCore } from "./core";

export class CircleDesk {
  constructor(
    private readonly core: ConsoleCore,
    /** Remove a member's leaf by device key (team.ts). */
    private readonly removeMember: (groupId: Uint8Array, key: string) => Promise<void>,
  ) {}

  /** Learn the names the server bound to a circle's members' keys. */
  async refreshRoster(groupId: Uint8Array): Promise<void> {
    const { core } = this;
    const view = core.state.circles.find((v) => equalBytes(v.info.group_id, groupId));
    const c = core.find(groupId);
    if (view === undefined || c === undefined) return;
    try {
      const answer = await core.request({ op: "circle_roster", circle_id: view.info.circle_id });
      if (answer.kind !== "circle_roster") return;
      for (const m of answer.members) if (m.display_name !== "") c.names.set(hex(m.client_id), m.display_name);
      core.update({});
    } catch {
      // Names stay as they were.
    }
  }

  /**
   * After a reload or a login on another computer: the circles I moderate
   * whose group came back from the vault, with who is asking to join, who is
   * in and the live invitations (their codes were shown once and are gone).
   */
  async restoreCircles(): Promise<void> {
    const { core } = this;
    const answer = await core.request({ op: "list_circles" });
    if (answer.kind !== "circles") return;
    const me = hex(core.clientId);
    for (const info of answer.circles) {
      if (!info.moderator || !core.mls.hasGroup(info.group_id)) continue;
      const circleId = info.circle_id;
      const [requests, roster, invitations] = await Promise.all([
        core.request({ op: "join_requests", circle_id: circleId }),
        core.request({ op: "circle_roster", circle_id: circleId }),
        core.request({ op: "list_invitations", circle_id: circleId }),
      ]);
      const c = core.find(info.group_id);
      const members: CircleView["members"] = [];
      if (roster.kind === "circle_roster") {
        for (const m of roster.members) {
          const key = hex(m.client_id);
          if (m.display_name !== "") c?.names.set(key, m.display_name);
          if (key !== me) members.push({ key, name: m.display_name || key.slice(0, 8), muted: m.muted === true });
        }
      }
      // A join request pushed while these answers were on their way is kept.
      const pushed = this.circleView(circleId)?.requests ?? [];
      const fetched = requests.kind === "join_requests" ? requests.requests : [];
      this.setCircle({
        info,
        invitations: invitations.kind === "invitations" ? invitations.invitations : [],
        requests: [...fetched, ...pushed.filter((p) => !fetched.some((r) => r.request_id === p.request_id))],
        members,
      });
    }
  }

  private circleView(circleId: number): CircleView | undefined {
    return this.core.state.circles.find((c) => c.info.circle_id === circleId);
  }

  private setCircle(view: CircleView): void {
    const others = this.core.state.circles.filter((c) => c.info.circle_id !== view.info.circle_id);
    this.core.update({ circles: [...others, view].sort((a, b) => a.info.circle_id - b.info.circle_id) });
  }

  /** A circle I moderate: a new group of mine, then the circle around it. */
  async createCircle(name: string, language: string, topic: string, autoApprove: boolean): Promise<CircleView> {
    const { core } = this;
    const groupId = await core.session.createGroup();
    const answer = await core.request({
      op: "create_circle",
      group_id: groupId,
      name,
      language,
      topic,
      ...(autoApprove ? { auto_approve: true } : {}),
    });
    if (answer.kind !== "circle") throw new Error(`unexpected answer ${answer.kind}`);
    const c = core.conversation(groupId, "circle");
    c.kind = "circle";
    c.title = `Circle · ${answer.circle.name}`;
    c.joined = true;
    const view: CircleView = { info: answer.circle, invitations: [], requests: [], members: [] };
    this.setCircle(view);
    return view;
  }

  /** A new invitation; its code is shown here once and kept only in this page. */
  async createInvitation(circleId: number, days: number, uses: number): Promise<InvitationState> {
    const answer = await this.core.request({
      op: "create_invitation",
      circle_id: circleId,
      expires_in_secs: Math.round(days * 86_400),
      max_uses: uses,
    });
    if (answer.kind !== "invitation") throw new Error(`unexpected answer ${answer.kind}`);
    const view = this.circleView(circleId);
    if (view !== undefined) this.setCircle({ ...view, invitations: [...view.invitations, answer.invitation] });
    return answer.invitation;
  }

  async revokeInvitation(circleId: number, invitationId: number): Promise<void> {
    await this.core.request({ op: "revoke_invitation", circle_id: circleId, invitation_id: invitationId });
    const view = this.circleView(circleId);
    if (view === undefined) return;
    this.setCircle({
      ...view,
      invitations: view.invitations.map((i) => (i.invitation_id === invitationId ? { ...i, revoked: true } : i)),
    });
  }

  async refreshRequests(circleId: number): Promise<void> {
    const answer = await this.core.request({ op: "join_requests", circle_id: circleId });
    if (answer.kind !== "join_requests") return;
    const view = this.circleView(circleId);
    if (view !== undefined) this.setCircle({ ...view, requests: answer.requests });
  }

  /** Approve: commit the add with the key package that came with the request. */
  async approve(circleId: number, requestId: number): Promise<void> {
    const { core } = this;
    const view = this.circleView(circleId);
    const request = view?.requests.find((r) => r.request_id === requestId);
    if (view === undefined || request === undefined) return;
    const groupId = view.info.group_id;
    const keyPackage = await core.mls.validateKeyPackage(request.key_package, request.client_id);
    await core.session.commit(groupId, () => core.mls.commitAdd(groupId, [keyPackage]));
    const key = hex(request.client_id);
    const c = core.find(groupId);
    c?.names.set(key, request.display_name);
    if (c !== undefined) core.system(c, ct("line.circleJoined", request.display_name));
    const latest = this.circleView(circleId) ?? view;
    this.setCircle({
      ...latest,
      requests: latest.requests.filter((r) => r.request_id !== requestId),
      members: [...latest.members.filter((m) => m.key !== key), { key, name: request.display_name, muted: false }],
    });
  }

  async decline(circleId: number, requestId: number): Promise<void> {
    await this.core.request({ op: "decline_join", circle_id: circleId, request_id: requestId });
    const view = this.circleView(circleId);
    if (view !== undefined) this.setCircle({ ...view, requests: view.requests.filter((r) => r.request_id !== requestId) });
  }

  async setMuted(circleId: number, key: string, muted: boolean): Promise<void> {
    await this.core.request({ op: "set_muted", circle_id: circleId, client_id: hexBytes(key), muted });
    const view = this.circleView(circleId);
    if (view !== undefined) {
      this.setCircle({ ...view, members: view.members.map((m) => (m.key === key ? { ...m, muted } : m)) });
    }
  }

  async removeFromCircle(circleId: number, key: string): Promise<void> {
    const view = this.circleView(circleId);
    if (view === undefined) return;
    await this.removeMember(view.info.group_id, key);
    const latest = this.circleView(circleId) ?? view;
    this.setCircle({ ...latest, members: latest.members.filter((m) => m.key !== key) });
  }

  async closeCircle(circleId: number): Promise<void> {
    const { core } = this;
    const view = this.circleView(circleId);
    if (view === undefined) return;
    await core.request({ op: "close_circle", circle_id: circleId });
    core.ended(view.info.group_id, ct("line.circleClosed"));
    if (core.mls.hasGroup(view.info.group_id)) core.mls.discardGroup(view.info.group_id);
    this.core.update({ circles: core.state.circles.filter((c) => c.info.circle_id !== circleId) });
  }

  /** `circle_join_request`, `circle_member_left`, `circle_ended`. */
  push(push: Extract<Push, { type: "circle_join_request" | "circle_member_left" | "circle_ended" }>): void {
    switch (push.type) {
      case "circle_join_request":
        this.joinRequest(push.request);
        return;
      case "circle_member_left":
        this.memberLeft(push.circle_id, push.client_id);
        return;
      case "circle_ended":
        this.core.ended(push.group_id, ct("line.circleEnded"));
        return;
    }
  }

  private joinRequest(request: JoinRequest): void {
    const view = this.circleView(request.circle_id);
    if (view === undefined) return;
    if (view.requests.some((r) => r.request_id === request.request_id)) return;
    this.setCircle({ ...view, requests: [...view.requests, request] });
    if (view.info.auto_approve) {
      void this.approve(request.circle_id, request.request_id).catch((e: Error) =>
        this.core.update({ problem: ct("problem.circleAdd", e.message) }),
      );
    } else {
      this.core.events.alerted?.(ct("alert.joinRequest", view.info.name), "join");
    }
  }

  private memberLeft(circleId: number, clientId: Uint8Array): void {
    const view = this.circleView(circleId);
    if (view === undefined) return;
    const key = hex(clientId);
    const name = view.members.find((m) => m.key === key)?.name ?? key.slice(0, 8);
    const c = this.core.find(view.info.group_id);
    if (c !== undefined) this.core.system(c, ct("line.circleLeft", name));
    // Their leaf goes with my next commit: now.
    void this.removeFromCircle(circleId, key).catch(() => undefined);
  }
}
