// Chats changing hands and ending: transfer to a colleague with a note
// sealed to them in a group of its own, take over a chat handed to me,
// close with a tag, block a visitor; and the intake's duties once I am in
// the group: remove the colleague I replace, re-add a visitor who came back
// on a new key, remove a disabled staff account's leaves.

import { equalBytes } from "../mls";
import type { Push } from "../net/connection";
import { type StaffBadge, verifyBadge } from "../protocol";
import { ct, tagLabel } from "../i18n/console";
import { hex } from "../util/hex";
import { type ConsoleCore, JOIN_WAIT_MS } from "./core";
import { encodeNote } from "./handover";
import { conversationTitle } from "./labels";

export type Duty =
  | { kind: "remove_previous"; groupId: Uint8Array; previous: Uint8Array }
  | { kind: "readd"; groupId: Uint8Array; old: Uint8Array; keyPackage: Uint8Array }
  /** A staff account in the group was disabled or reset: remove its leaves (any member may). */
  | { kind: "remove_revoked"; groupId: Uint8Array; clients: Uint8Array[] };

export class Transfers {
  constructor(
    private readonly core: ConsoleCore,
    /** Send a message in a conversation (chats.ts). */
    private readonly send: (groupId: Uint8Array, text: string) => Promise<void>,
  ) {}

  /** Hand the chat to a colleague (or the best available), sealing `note` to them in a separate group. */
  async transfer(groupId: Uint8Array, note: string, to?: number): Promise<StaffBadge> {
    const req: { op: "transfer_chat"; group_id: Uint8Array; to?: number } = { op: "transfer_chat", group_id: groupId };
    if (to !== undefined) req.to = to;
    const answer = await this.core.request(req);
    if (answer.kind !== "transferred") throw new Error(`unexpected answer ${answer.kind}`);
    const c = this.core.find(groupId);
    if (c !== undefined) this.core.system(c, ct("line.transferred", answer.to.display_name));
    if (note.trim() !== "") {
      await this.sendNote(answer.to, answer.note_key_package, encodeNote(hex(groupId), note.trim()), c === undefined ? "" : conversationTitle(c));
      if (c !== undefined) this.core.system(c, ct("line.noteSent", answer.to.display_name, note.trim()));
    }
    return answer.to;
  }

  private async sendNote(to: StaffBadge, keyPackageBytes: Uint8Array, note: string, title: string): Promise<void> {
    const { core } = this;
    const key = core.attestationKey;
    const badge = key === undefined ? undefined : verifyBadge(key, to, Math.floor(Date.now() / 1000));
    if (badge === undefined || !badge.ok) throw new Error("the colleague's badge does not verify: no note sent");
    const keyPackage = await core.mls.validateKeyPackage(keyPackageBytes, badge.key);
    const groupId = await core.session.createGroup();
    const c = core.conversation(groupId, "note");
    c.title = `${ct("note.to", to.display_name)}${title ? ` · ${title}` : ""}`;
    c.joined = true;
    await core.session.commit(groupId, () => core.mls.commitAdd(groupId, [keyPackage]));
    await this.send(groupId, note);
    // Said in the chat itself (above); the note's group has nothing more to show.
    core.dropNoteGroup(groupId);
  }

  /** End a chat with a closing tag; the server purges it. */
  async close(groupId: Uint8Array, tag: string): Promise<void> {
    await this.core.request({ op: "close_chat", group_id: groupId, tag });
    this.core.ended(groupId, ct("line.closed", tagLabel(tag)));
  }

  /** Block the visitor of this chat's ticket. */
  async block(groupId: Uint8Array, durationSecs: number, reason: string): Promise<void> {
    const c = this.core.find(groupId);
    if (c?.ticket === undefined) throw new Error("not a visitor's chat");
    await this.core.request({ op: "block_visitor", ticket_id: c.ticket.ticket_id, duration_secs: durationSecs, reason });
    this.core.ended(groupId, ct("line.blocked"));
  }

  /** `chat_assigned`, `readd_visitor`, `remove_revoked_members`, `chat_ended`. */
  push(push: Extract<Push, { type: "chat_assigned" | "readd_visitor" | "remove_revoked_members" | "chat_ended" }>): void {
    const { core } = this;
    switch (push.type) {
      case "chat_assigned": {
        const c = core.conversation(push.group_id, "chat", push.ticket);
        if (push.from !== undefined) {
          c.names.set(hex(push.from.signature_key), push.from.display_name);
          core.system(
            c,
            core.mls.hasGroup(push.group_id)
              ? ct("line.leftToYou", push.from.display_name)
              : ct("line.transferredToYou", push.from.display_name),
          );
        }
        core.takePendingNote(hex(push.group_id));
        if (push.remove_previous !== undefined && !equalBytes(push.remove_previous, core.clientId)) {
          void this.duty({ kind: "remove_previous", groupId: push.group_id, previous: push.remove_previous });
        }
        return;
      }
      case "readd_visitor":
        void this.duty({ kind: "readd", groupId: push.group_id, old: push.old_client, keyPackage: push.key_package });
        return;
      case "remove_revoked_members":
        if (!push.clients.some((c) => equalBytes(c, core.clientId))) {
          void this.duty({ kind: "remove_revoked", groupId: push.group_id, clients: push.clients });
        }
        return;
      case "chat_ended":
        core.ended(push.group_id, ct("line.ended"));
        return;
    }
  }

  /** Do what the intake asks once I am a member of the group (a duty waits for the Welcome). */
  async duty(d: Duty): Promise<void> {
    const { core } = this;
    const { mls, session } = core;
    if (!(await session.waitForGroup(d.groupId, JOIN_WAIT_MS))) {
      core.update({ problem: ct("problem.joinTimeout") });
      return;
    }
    const c = core.find(d.groupId);
    try {
      if (d.kind === "remove_previous") {
        await session.commit(d.groupId, () => mls.commitRemove(d.groupId, [d.previous]));
        if (c !== undefined) core.system(c, ct("line.previousRemoved"));
      } else if (d.kind === "remove_revoked") {
        await session.commit(d.groupId, () => mls.commitRemove(d.groupId, d.clients));
        if (c !== undefined) core.system(c, ct("line.disabledRemoved"));
      } else {
        const { keyPackage } = await mls.parseKeyPackage(d.keyPackage);
        await session.commit(d.groupId, async () => {
          const remove = mls.members(d.groupId).filter((m) => equalBytes(m.clientId, d.old));
          return mls.commitReplace(d.groupId, remove.map((m) => m.clientId), [keyPackage]);
        });
        if (c !== undefined) core.system(c, ct("line.visitorReadded"));
      }
    } catch (e) {
      core.update({ problem: ct("problem.intakeStep", (e as Error).message) });
    }
  }
}
