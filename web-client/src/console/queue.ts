// Shift, queue and offers: set the shift (and see the queue while on it),
// take a ticket from an offer or the queue (a new chat: create the group,
// attach it, add the visitor; a hand-over: wait for the visitor's device to
// add me), decline an offer; supervisors see the board and rescue
// stranded chats.

import type { Push } from "../net/connection";
import type { BoardRow, Response, ShiftState, StaffBadge, StrandedChat } from "../protocol";
import { ct } from "../i18n/console";
import { hex } from "../util/hex";
import type { ConsoleCore, Conversation } from "./core";

export interface Board {
  queueDepth: number;
  longestWaitSecs: number;
  staff: BoardRow[];
  stranded: StrandedChat[];
  openEscalations: number;
}

export class QueueDesk {
  constructor(private readonly core: ConsoleCore) {}

  async setShift(state: ShiftState, handover = false): Promise<Extract<Response, { kind: "shift" }>> {
    const req: { op: "set_shift"; state: ShiftState; handover?: boolean } = { op: "set_shift", state };
    if (handover) req.handover = true;
    const answer = await this.core.request(req);
    if (answer.kind !== "shift") throw new Error(`unexpected answer ${answer.kind}`);
    this.core.update({ shift: answer.state });
    this.core.store.saveShift(answer.state);
    if (state !== "clocked_out") await this.refreshQueue();
    return answer;
  }

  async refreshQueue(): Promise<void> {
    const answer = await this.core.request({ op: "queue_view" });
    if (answer.kind === "queue") this.core.update({ queue: answer.tickets, queueDepth: answer.tickets.length, queueSeenAt: Date.now() });
  }

  async board(): Promise<Board> {
    const answer = await this.core.request({ op: "board" });
    if (answer.kind !== "board") throw new Error(`unexpected answer ${answer.kind}`);
    return {
      queueDepth: answer.queue_depth,
      longestWaitSecs: answer.longest_wait_secs,
      staff: answer.staff,
      stranded: answer.stranded ?? [],
      openEscalations: answer.open_escalations,
    };
  }

  /**
   * Supervisors: move a stranded chat to colleague `to`, or to me. The
   * visitor's device adds the new counsellor (`chat_assigned` follows for
   * them); answers their badge.
   */
  async rescueChat(groupId: Uint8Array, to?: number): Promise<StaffBadge> {
    const answer = await this.core.request(to === undefined ? { op: "rescue_chat", group_id: groupId } : { op: "rescue_chat", group_id: groupId, to });
    if (answer.kind !== "chat_rescued") throw new Error(`unexpected answer ${answer.kind}`);
    return answer.to;
  }

  async declineOffer(ticketId: number): Promise<void> {
    await this.core.request({ op: "decline_offer", ticket_id: ticketId });
    this.dropOffer(ticketId);
  }

  dropOffer(ticketId: number): void {
    this.core.update({ offers: this.core.state.offers.filter((o) => o.ticket.ticket_id !== ticketId) });
  }

  /**
   * Take a ticket (an offer, or picked from the queue). A new chat: create
   * the group, attach it, add the visitor with the key package the server
   * hands over. A hand-over: the visitor's client adds me, then I remove
   * the colleague.
   */
  async accept(ticketId: number): Promise<Conversation> {
    const { core } = this;
    const answer = await core.request({ op: "accept_ticket", ticket_id: ticketId });
    this.dropOffer(ticketId);
    if (answer.kind !== "ticket_accepted") throw new Error(`unexpected answer ${answer.kind}`);
    if (answer.key_package !== undefined) {
      const { keyPackage, owner } = await core.mls.parseKeyPackage(answer.key_package);
      const groupId = await core.session.createGroup();
      try {
        await core.request({ op: "attach_chat", ticket_id: ticketId, group_id: groupId });
      } catch (e) {
        core.mls.discardGroup(groupId);
        throw e;
      }
      const conversation = core.conversation(groupId, "chat", answer.ticket);
      conversation.joined = true;
      conversation.names.set(hex(owner), "");
      await core.session.commit(groupId, () => core.mls.commitAdd(groupId, [keyPackage]));
      core.system(conversation, ct("line.visitorAdded"));
      void this.refreshQueue();
      return conversation;
    }
    if (answer.group_id === undefined) throw new Error("an accepted ticket needs a key package or a group");
    const conversation = core.conversation(answer.group_id, "chat", answer.ticket);
    core.system(conversation, ct("line.handoverWaiting"));
    void this.refreshQueue();
    return conversation;
  }

  /** `offer`, `offer_withdrawn`, `queue_changed`. */
  push(push: Extract<Push, { type: "offer" | "offer_withdrawn" | "queue_changed" }>): void {
    switch (push.type) {
      case "offer": {
        const offer = { ticket: push.ticket, expiresAt: Date.now() + push.expires_in_secs * 1000, seenAt: Date.now() };
        this.core.update({ offers: [...this.core.state.offers.filter((o) => o.ticket.ticket_id !== push.ticket.ticket_id), offer] });
        this.core.events.offered?.(offer);
        return;
      }
      case "offer_withdrawn":
        this.dropOffer(push.ticket_id);
        return;
      case "queue_changed":
        this.core.update({ queueDepth: push.depth });
        void this.refreshQueue().catch(() => undefined);
        return;
    }
  }
}
