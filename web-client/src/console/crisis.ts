// Escalation to the crisis line (PROTOCOL.md): the counsellor signs and
// sends `escalate`, adds the responder the server names after checking the
// badge, and may hand the chat off; crisis responders go on duty, see the
// queue (each request checked against the counsellor's badge), accept, and
// join the chat by its Welcome.

import { equalBytes } from "../mls";
import type { Push } from "../net/connection";
import type { Category, CrisisLine, DutyState, EscalationEntry, EscalationOutcome, Severity } from "../protocol";
import { ct, languageLabel } from "../i18n/console";
import { hex } from "../util/hex";
import { type ConsoleCore, type Conversation, JOIN_WAIT_MS, type QueuedEscalation } from "./core";
import { categoryLabel, checkEscalation, escalationStatusText, responderKey, severityLabel } from "./escalations";

const nowSecs = () => Math.floor(Date.now() / 1000);

export class CrisisDesk {
  constructor(private readonly core: ConsoleCore) {}

  /** Ask for a crisis responder: a request signed by this session's key, outside MLS. */
  async escalate(groupId: Uint8Array, severity: Severity, category: Category): Promise<EscalationEntry> {
    const signed = this.core.mls.identity.escalation(groupId, severity, category, nowSecs());
    const answer = await this.core.request({ op: "escalate", escalation: signed });
    if (answer.kind !== "escalated") throw new Error(`unexpected answer ${answer.kind}`);
    this.changed(answer.escalation);
    return answer.escalation;
  }

  /** End the chat's escalation: `resolved` (the chat goes on) or `handed_off` (leave the chat to the responder). */
  async resolveEscalation(groupId: Uint8Array, outcome: EscalationOutcome): Promise<void> {
    const entry = this.core.find(groupId)?.escalation;
    if (entry === undefined) throw new Error("this chat has no escalation");
    const answer = await this.core.request({ op: "resolve_escalation", escalation_id: entry.escalation_id, outcome });
    if (answer.kind !== "escalation_resolved") throw new Error(`unexpected answer ${answer.kind}`);
    this.changed(answer.escalation);
  }

  /** Crisis responders: go on or off duty (on duty: the queue and its pushes). */
  async setDuty(state: DutyState): Promise<void> {
    const answer = await this.core.request({ op: "set_duty", state });
    if (answer.kind !== "duty") throw new Error(`unexpected answer ${answer.kind}`);
    this.core.update({ duty: answer.state });
    if (answer.state === "on_duty") await this.refreshEscalations();
    else this.core.update({ escalations: [] });
  }

  async refreshEscalations(): Promise<void> {
    const answer = await this.core.request({ op: "escalation_queue" });
    if (answer.kind !== "escalations") return;
    this.core.update({ escalations: answer.escalations.map((entry) => this.checked(entry)) });
  }

  private checked(entry: EscalationEntry): QueuedEscalation {
    return { entry, check: checkEscalation(entry, this.core.attestationKey, nowSecs()) };
  }

  /**
   * Crisis responders: take an escalation. The chat's counsellor adds this
   * device; the chat arrives by its Welcome and works like any other.
   */
  async acceptEscalation(escalationId: number): Promise<Conversation> {
    const { core } = this;
    const queued = core.state.escalations.find((q) => q.entry.escalation_id === escalationId);
    if (queued !== undefined && queued.check !== "verified") throw new Error("this escalation's signature does not verify: not accepted");
    const answer = await core.request({ op: "accept_escalation", escalation_id: escalationId });
    if (answer.kind !== "escalation_accepted") throw new Error(`unexpected answer ${answer.kind}`);
    const entry = answer.escalation;
    const c = core.conversation(entry.request.group_id, "chat");
    c.kind = "chat";
    c.title = ct("crisis.title", categoryLabel(entry.request.category), languageLabel(entry.language));
    c.names.set(hex(entry.counsellor.signature_key), entry.counsellor.display_name);
    if (!c.joined) core.system(c, ct("line.responderAccepted", entry.counsellor.display_name));
    this.changed(entry);
    return c;
  }

  /** The server's word on an escalation: the chat's status line and the responder's queue. */
  changed(entry: EscalationEntry): void {
    const { core } = this;
    const c = core.find(entry.request.group_id);
    if (c !== undefined) {
      const before = c.escalation?.status;
      c.escalation = entry;
      if (before !== entry.status) core.system(c, escalationStatusText(entry));
    }
    const mine = entry.responder !== undefined && equalBytes(entry.responder.signature_key, core.clientId);
    const watching = core.state.me.role === "crisis_responder" && core.state.duty === "on_duty";
    const stays = watching && !["resolved", "handed_off"].includes(entry.status) && (entry.status === "open" || mine);
    const others = core.state.escalations.filter((q) => q.entry.escalation_id !== entry.escalation_id);
    const listed = others.length !== core.state.escalations.length;
    if (stays && (listed || entry.status === "open")) core.update({ escalations: [...others, this.checked(entry)] });
    else if (listed) core.update({ escalations: others });
    else core.update({});
  }

  /** `escalation_raised`, `escalation_changed`, `add_responder`, `escalation_fallback`. */
  push(push: Extract<Push, { type: "escalation_raised" | "escalation_changed" | "add_responder" | "escalation_fallback" }>): void {
    switch (push.type) {
      case "escalation_raised":
        this.changed(push.escalation);
        this.core.events.alerted?.(`${ct("alert.escalation")} (${severityLabel(push.escalation.request.severity)})`, "escalation");
        return;
      case "escalation_changed":
        this.changed(push.escalation);
        return;
      case "add_responder":
        void this.addResponder(push);
        return;
      case "escalation_fallback":
        this.fallback(push.group_id, push.help.crisis_lines);
        return;
    }
  }

  /** The counsellor: add the responder the server names, only if the badge and key package hold. */
  private async addResponder(push: Extract<Push, { type: "add_responder" }>): Promise<void> {
    const { core } = this;
    const c = core.find(push.group_id);
    const refuse = (why: string) => core.tell(c, ct("line.responderRefused", why));
    const key = responderKey(push.responder, core.attestationKey, nowSecs());
    if (key === undefined) return refuse("their badge does not verify as a crisis responder");
    const keyPackage = await core.mls.validateKeyPackage(push.key_package, key).catch(() => undefined);
    if (keyPackage === undefined) return refuse("the key package is not the badge's key");
    if (!(await core.session.waitForGroup(push.group_id, JOIN_WAIT_MS))) return refuse("you are not in the chat");
    try {
      c?.names.set(hex(key), push.responder.display_name);
      await core.session.commit(push.group_id, () => core.mls.commitAdd(push.group_id, [keyPackage]));
      if (c !== undefined) core.system(c, ct("line.responderAdded", push.responder.display_name));
    } catch (e) {
      refuse((e as Error).message);
    }
  }

  private fallback(groupId: Uint8Array, lines: CrisisLine[]): void {
    const numbers = lines.map((l) => `${l.number} (${l.name}, ${l.hours})`).join("; ");
    this.core.tell(this.core.find(groupId), ct("line.noResponder", numbers));
  }
}
