// The hand-over note shown inside the chat it belongs to (issue 21, point
// 3). The note still travels as before, sealed to the colleague in its own
// MLS group (the visitor is never in it); its text now names the chat's
// group, so the receiving console puts it into that chat as a line and
// lists no separate "note" conversation. A note without the mark (from
// the Rust client, or an older console) stays a conversation of its own.

/** An invisible separator and a word: not something a counsellor types. */
const MARK = "\u2063handover:";
/** Notes waiting for their chat to be assigned (the Welcome can come first); more are dropped. */
export const MAX_PENDING_NOTES = 16;

export function encodeNote(chatGroupHex: string, text: string): string {
  return `${MARK}${chatGroupHex}\n${text}`;
}

export function decodeNote(plain: string): { chat: string; text: string } | undefined {
  if (!plain.startsWith(MARK)) return undefined;
  const end = plain.indexOf("\n", MARK.length);
  if (end < 0) return undefined;
  const chat = plain.slice(MARK.length, end);
  if (!/^[0-9a-f]{2,128}$/.test(chat)) return undefined;
  return { chat, text: plain.slice(end + 1) };
}

/** Notes whose chat this console does not know yet, by the chat's group (hex), bounded. */
export class PendingNotes {
  private readonly notes = new Map<string, { sender: string; text: string }>();

  hold(chat: string, sender: string, text: string): void {
    if (!this.notes.has(chat) && this.notes.size >= MAX_PENDING_NOTES) {
      const oldest = this.notes.keys().next().value;
      if (oldest !== undefined) this.notes.delete(oldest);
    }
    this.notes.set(chat, { sender, text });
  }

  take(chat: string): { sender: string; text: string } | undefined {
    const note = this.notes.get(chat);
    this.notes.delete(chat);
    return note;
  }

  get size(): number {
    return this.notes.size;
  }
}
