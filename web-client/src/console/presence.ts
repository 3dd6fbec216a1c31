// What the console shows of a chat's visitor's connection, and of chats
// stranded by an absent counsellor (supervisor board). Only the state the
// server tells: never where from.

import { ct } from "../i18n/console";
import type { StrandedChat, StrandedReason, VisitorPresence } from "../protocol";

/** The short label beside a chat (undefined: nothing to show). */
export function presenceLabel(presence: VisitorPresence | undefined): string | undefined {
  return presence === undefined || presence === "here" ? undefined : ct(`pane.presence.${presence}`);
}

/** The line written into the conversation when the presence changes. */
export function presenceLine(presence: VisitorPresence): string {
  return ct(`presence.${presence}`);
}

const REASONS: Record<StrandedReason, string> = {
  offline: "counsellor offline",
  clocked_out: "counsellor clocked out with it open",
};

/** One stranded chat on the board, in words. */
export function strandedText(chat: StrandedChat): string {
  return `${chat.counsellor || "A counsellor"}'s chat (${chat.language}): ${REASONS[chat.reason]}`;
}

/** Colleagues a stranded chat may go to: connected chat staff on shift, not its absent counsellor. */
export function rescueTargets<R extends { account_id: number; role: string; shift: string; connected: boolean; active_chats: number; max_chats: number }>(
  rows: R[],
  chat: StrandedChat,
): R[] {
  return rows.filter(
    (r) =>
      r.account_id !== chat.counsellor_account &&
      (r.role === "counsellor" || r.role === "supervisor") &&
      r.connected &&
      (r.shift === "clocked_in" || r.shift === "available") &&
      r.active_chats < r.max_chats,
  );
}
