// The one list a counsellor works from: tickets offered to her, tickets
// waiting in the queue, and her conversations, each ticket once, sorted
// so that whoever has waited longest for an answer is on top (urgent and
// SOS first). A conversation waits when the other side wrote last.

import type { QueueEntry } from "../protocol";
import type { Conversation, Offer } from "./core";

export type WorkItem =
  | { kind: "offer"; key: string; ticket: QueueEntry; offer: Offer; urgent: boolean; waitingSince: number }
  | { kind: "waiting"; key: string; ticket: QueueEntry; urgent: boolean; waitingSince: number }
  | { kind: "conversation"; key: string; conversation: Conversation; urgent: boolean; waitingSince: number | undefined };

export interface WorkInput {
  offers: readonly Offer[];
  queue: readonly QueueEntry[];
  /** When the queue was fetched (ms): its `waited_secs` count from here. */
  queueSeenAt: number;
  conversations: readonly Conversation[];
}

/** Since when the other side has waited for an answer in this conversation (ms), if she has. */
export function waitingSince(c: Conversation): number | undefined {
  if (c.ended || c.lastTheirsAt === undefined) return undefined;
  return c.lastMineAt !== undefined && c.lastMineAt >= c.lastTheirsAt ? undefined : c.lastTheirsAt;
}

export function workList({ offers, queue, queueSeenAt, conversations }: WorkInput): WorkItem[] {
  const items: WorkItem[] = [];
  const listed = new Set<number>();
  // A ticket that is already a conversation of mine is listed as that conversation.
  for (const c of conversations) {
    if (c.ticket !== undefined) listed.add(c.ticket.ticket_id);
    items.push({
      kind: "conversation",
      key: `c:${c.groupId.join(",")}`,
      conversation: c,
      urgent: !c.ended && (c.sosAlert === true || c.ticket?.urgent === true),
      waitingSince: waitingSince(c),
    });
  }
  for (const o of offers) {
    if (listed.has(o.ticket.ticket_id)) continue;
    listed.add(o.ticket.ticket_id);
    items.push({
      kind: "offer",
      key: `t:${o.ticket.ticket_id}`,
      ticket: o.ticket,
      offer: o,
      urgent: o.ticket.urgent,
      waitingSince: o.seenAt - o.ticket.waited_secs * 1000,
    });
  }
  for (const t of queue) {
    if (listed.has(t.ticket_id)) continue;
    listed.add(t.ticket_id);
    items.push({ kind: "waiting", key: `t:${t.ticket_id}`, ticket: t, urgent: t.urgent, waitingSince: queueSeenAt - t.waited_secs * 1000 });
  }
  return items
    .map((item, order) => ({ item, order }))
    .sort((a, b) => rank(a.item) - rank(b.item) || since(a.item) - since(b.item) || a.order - b.order)
    .map(({ item }) => item);
}

/** Urgent and waiting, waiting, answered, ended. */
function rank(item: WorkItem): number {
  if (item.kind === "conversation" && item.conversation.ended) return 3;
  if (item.waitingSince === undefined) return 2;
  return item.urgent ? 0 : 1;
}

function since(item: WorkItem): number {
  return item.waitingSince ?? 0;
}

/** The conversation after the one on screen, in list order (wrapping); the top one if none is on screen. */
export function nextConversation(items: readonly WorkItem[], active: Conversation | undefined): Conversation | undefined {
  const open = items.flatMap((i) => (i.kind === "conversation" && !i.conversation.ended ? [i.conversation] : []));
  if (open.length === 0) return undefined;
  const at = active === undefined ? -1 : open.indexOf(active);
  return open[(at + 1) % open.length];
}

/** What "accept" takes: the offer on top, else the ticket waiting longest. */
export function nextToAccept(items: readonly WorkItem[]): QueueEntry | undefined {
  const offer = items.find((i) => i.kind === "offer");
  if (offer !== undefined) return offer.ticket;
  const waiting = items.find((i) => i.kind === "waiting");
  return waiting?.ticket;
}
