// Conversations as they go: messages in and out (a circle's carry the
// sender's name there), typing signals (ephemeral, never a line, never
// kept), who the other side is, the visitor's presence and SOS, and what
// MLS says about membership.

import { decodeText } from "../chat/session";
import { TYPING_IDLE_MS, TypingSender, TypingWatch, typingSignal } from "../chat/typing";
import { type MlsEvent, equalBytes } from "../mls";
import type { Push } from "../net/connection";
import { ct } from "../i18n/console";
import { hex } from "../util/hex";
import { decodeCircleText, encodeCircleText } from "../visitor/circle";
import type { ConsoleCore, Conversation } from "./core";
import { decodeNote } from "./handover";
import { conversationTitle } from "./labels";
import { presenceLine } from "./presence";

export class Chats {
  /** Typing signals per chat (hex group id): in memory, never saved. */
  private readonly typingSenders = new Map<string, TypingSender>();
  private readonly typingWatches = new Map<string, TypingWatch>();

  constructor(
    private readonly core: ConsoleCore,
    /** A circle's members changed or a sender's name is not known yet: ask the server for the roster. */
    private readonly rosterStale: (groupId: Uint8Array) => void,
  ) {}

  /** I am writing in this chat: the visitor sees "typing" (inside MLS, never stored). */
  typing(groupId: Uint8Array): void {
    const key = hex(groupId);
    if (this.core.conversations.get(key)?.kind !== "chat") return;
    let sender = this.typingSenders.get(key);
    if (sender === undefined) {
      sender = new TypingSender((signal) => this.core.session.sendSignal(groupId, signal));
      this.typingSenders.set(key, sender);
    }
    sender.input();
  }

  async send(groupId: Uint8Array, text: string): Promise<void> {
    const { core } = this;
    const c = core.find(groupId);
    if (c === undefined) return;
    this.typingSenders.get(hex(groupId))?.sent();
    const id = core.lineId();
    core.addLine(c, { kind: "mine", id, text, delivery: "sending" });
    c.lastMineAt = Date.now();
    core.update({});
    let delivery: "sent" | "failed" = "sent";
    try {
      // In a circle every message carries the sender's name there.
      await core.session.sendText(groupId, c.kind === "circle" ? encodeCircleText(core.state.me.display_name, text) : text);
    } catch {
      delivery = "failed";
    }
    c.lines = c.lines.map((l) => (l.id === id && l.kind === "mine" ? { ...l, delivery } : l));
    core.update({});
    core.store.saveConversation(c);
  }

  /** A chat, or a message left for the team (taken or not yet): the other side is the visitor. */
  fromVisitor(c: Conversation, groupId: Uint8Array): boolean {
    return c.kind === "chat" || c.kind === "team" || this.core.state.teamMessages.some((m) => equalBytes(m.group_id, groupId));
  }

  /** `visitor_presence` and `sos_alert`. */
  push(push: Extract<Push, { type: "visitor_presence" | "sos_alert" }>): void {
    const c = this.core.find(push.group_id);
    if (c === undefined) return;
    if (push.type === "visitor_presence") {
      if (c.presence === push.presence || (c.presence === undefined && push.presence === "here")) return;
      c.presence = push.presence;
      this.core.system(c, presenceLine(push.presence));
      return;
    }
    c.sosAlert = true;
    this.core.system(c, ct("line.sos"));
    this.core.events.alerted?.(ct("alert.sosIn", conversationTitle(c)), "sos");
  }

  mlsEvent(event: MlsEvent): void {
    const { core } = this;
    const key = hex(event.groupId);
    switch (event.kind) {
      case "joined": {
        // A Welcome to a group I do not know as a chat is a note, a team message or a peer group.
        const c = core.conversations.get(key) ?? core.conversation(event.groupId, "note");
        c.joined = true;
        core.system(c, ct("line.joined"));
        return;
      }
      case "message": {
        const c = core.conversations.get(key) ?? core.conversation(event.groupId, "note");
        const signal = typingSignal(event.plaintext);
        if (signal !== undefined) {
          // Ephemeral: shown for a moment in chats, never a line, never kept.
          if (c.kind === "chat") this.typingSignalFrom(c, key, signal);
          return;
        }
        const plain = decodeText(event.plaintext);
        if (plain === undefined) return;
        const note = c.kind === "note" ? decodeNote(plain) : undefined;
        // A hand-over note: shown in its chat when its sender is the colleague the server named.
        if (note !== undefined && core.handoverNote(note.chat, hex(event.sender), note.text)) {
          core.dropNoteGroup(event.groupId);
          return;
        }
        this.typingWatches.get(key)?.message();
        c.visitorTyping = false;
        const circleText = c.kind === "circle" ? decodeCircleText(plain) : undefined;
        const text = circleText?.text ?? note?.text ?? plain;
        // In a circle, only the name the server bound to the sender's key
        // counts, never the one the message claims.
        const name = c.names.get(hex(event.sender)) ?? (c.kind === "circle" ? "(name not confirmed)" : undefined);
        if (c.kind === "circle" && !c.names.has(hex(event.sender))) this.rosterStale(event.groupId);
        core.addLine(c, {
          kind: "theirs",
          id: core.lineId(),
          text,
          from: name || (this.fromVisitor(c, event.groupId) ? ct("pane.visitor") : ct("pane.colleagueUnknown")),
        });
        c.lastTheirsAt = Date.now();
        if (core.activeGroup !== key) {
          c.unread += 1;
          core.events.message?.(c);
        }
        core.update({});
        return;
      }
      case "commit": {
        const c = core.conversations.get(key);
        if (c?.kind === "circle" && !event.removedMe) this.rosterStale(event.groupId);
        if (c !== undefined && event.removedMe) core.ended(event.groupId, ct("line.removedMe"));
        else if (c !== undefined && !event.mine && (event.added.length > 0 || event.removed.length > 0)) {
          core.system(c, ct("line.membersChanged", event.added.length, event.removed.length));
        }
        return;
      }
      case "skipped":
        return;
    }
  }

  private typingSignalFrom(c: Conversation, key: string, signal: "start" | "stop"): void {
    let watch = this.typingWatches.get(key);
    if (watch === undefined) {
      watch = new TypingWatch();
      this.typingWatches.set(key, watch);
    }
    watch.signal(signal);
    c.visitorTyping = watch.typing;
    this.core.update({});
    if (signal === "start") {
      setTimeout(() => {
        c.visitorTyping = watch.typing;
        this.core.update({});
      }, TYPING_IDLE_MS + 50);
    }
  }
}
