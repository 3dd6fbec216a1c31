// Names for what the console lists, in the counsellor's language: a chat is
// its topic and language ("Health and HIV · Macedonian"), never a ticket
// number or a key.

import { ct, languageLabel, topicLabel } from "../i18n/console";
import type { QueueEntry } from "../protocol";
import type { Conversation } from "./core";

/** A ticket in words: topic and language. */
export function ticketSummary(ticket: Pick<QueueEntry, "topic" | "language">): string {
  return `${topicLabel(ticket.topic)} · ${languageLabel(ticket.language)}`;
}

/** What a conversation is called in the list and above its messages. */
export function conversationTitle(c: Pick<Conversation, "kind" | "title" | "ticket">): string {
  if (c.kind === "chat" && c.ticket !== undefined) return ticketSummary(c.ticket);
  switch (c.kind) {
    case "note":
      // A note I sent carries its colleague's name; one I received is named by its kind.
      return c.title === "note" || c.title === "" ? ct("kind.note") : c.title;
    case "team":
      return ct("kind.team");
    case "chat":
    case "peer":
    case "circle":
      return c.title === c.kind ? ct(`kind.${c.kind}`) : c.title;
  }
}

/** The newest line that is a message (not a system line), for the list's preview. */
export function lastMessage(c: Pick<Conversation, "lines">): { text: string; mine: boolean } | undefined {
  for (let i = c.lines.length - 1; i >= 0; i--) {
    const line = c.lines[i];
    if (line === undefined || line.kind === "system") continue;
    return { text: line.text, mine: line.kind === "mine" };
  }
  return undefined;
}
