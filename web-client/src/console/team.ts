// Messages visitors left for the team (taken by one counsellor, then a
// conversation like a chat) and peer groups between colleagues (invite and
// remove by device key).

import { equalBytes } from "../mls";
import type { Push } from "../net/connection";
import { ct } from "../i18n/console";
import { hex, hexBytes } from "../util/hex";
import type { ConsoleCore, Conversation } from "./core";

/** A typed device key: 64 hex digits. */
function deviceKey(clientIdHex: string): Uint8Array {
  const clientId = hexBytes(clientIdHex.trim());
  if (clientId.length !== 32) throw new Error("a device key is 64 hex digits");
  return clientId;
}

export class TeamDesk {
  constructor(private readonly core: ConsoleCore) {}

  /** `team_messages_waiting`: the list as the server has it now. */
  push(push: Extract<Push, { type: "team_messages_waiting" }>): void {
    this.core.update({ teamMessages: push.messages });
  }

  async takeTeamMessage(groupId: Uint8Array): Promise<void> {
    const { core } = this;
    await core.request({ op: "take_team_message", group_id: groupId });
    const c = core.conversation(groupId, "team");
    c.kind = "team";
    c.title = ct("team.title");
    // What arrived before it was taken was shown by key: it is the visitor's.
    c.lines = c.lines.map((l) => (l.kind === "theirs" ? { ...l, from: ct("pane.visitor") } : l));
    core.update({ teamMessages: core.state.teamMessages.filter((m) => !equalBytes(m.group_id, groupId)) });
  }

  /** A peer group with me alone in it; invite colleagues by their device key. */
  async createPeerGroup(title: string): Promise<Conversation> {
    const groupId = await this.core.session.createGroup();
    const c = this.core.conversation(groupId, "peer");
    c.title = title || ct("work.peerGroup");
    c.joined = true;
    this.core.update({});
    return c;
  }

  /** Invite a colleague (their device key, hex) to a peer group. */
  async invite(groupId: Uint8Array, clientIdHex: string): Promise<void> {
    const { core } = this;
    const clientId = deviceKey(clientIdHex);
    const answer = await core.request({ op: "claim_key_package", client_id: clientId });
    if (answer.kind !== "key_package") throw new Error(`unexpected answer ${answer.kind}`);
    const keyPackage = await core.mls.validateKeyPackage(answer.key_package, clientId);
    await core.session.commit(groupId, () => core.mls.commitAdd(groupId, [keyPackage]));
    const c = core.find(groupId);
    if (c !== undefined) core.system(c, ct("line.invited"));
  }

  /** Remove a member (device key, hex) from a peer group or a circle. */
  async removeMember(groupId: Uint8Array, clientIdHex: string): Promise<void> {
    const { core } = this;
    const clientId = deviceKey(clientIdHex);
    const epoch = await core.session.commit(groupId, () => core.mls.commitRemove(groupId, [clientId]));
    if (epoch === undefined) throw new Error("that device key is not in this group");
    const c = core.find(groupId);
    // A circle member by the name the server bound to her key, when known.
    const key = hex(clientId);
    if (c !== undefined) core.system(c, ct("line.removed", c.names.get(key) || ct("pane.colleagueUnknown")));
  }

  /**
   * Leave a peer group. Protocol v1 has no self-removal (it needs a
   * proposal), so leaving drops my keys and the group from this console;
   * a remaining member removes my leaf.
   */
  leave(groupId: Uint8Array): void {
    if (this.core.mls.hasGroup(groupId)) this.core.mls.discardGroup(groupId);
    this.core.dismiss(groupId);
  }

  members(groupId: Uint8Array): string[] {
    return this.core.mls.hasGroup(groupId) ? this.core.mls.members(groupId).map((m) => hex(m.clientId)) : [];
  }
}
