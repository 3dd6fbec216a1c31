// Whom a chat can be handed to, by name: colleagues on shift who take
// chats, connected, with room for one more, least busy first. Supervisors
// see them from the board; counsellors leave the choice to the server
// (the board is a supervisor's view: SECURITY.md's matrix).

import type { BoardRow } from "../protocol";

export function transferTargets(rows: readonly BoardRow[], myAccountId: number): BoardRow[] {
  return rows
    .filter(
      (r) =>
        r.account_id !== myAccountId &&
        (r.role === "counsellor" || r.role === "supervisor") &&
        r.connected &&
        (r.shift === "available" || r.shift === "clocked_in") &&
        r.active_chats < r.max_chats,
    )
    .sort((a, b) => Number(b.shift === "available") - Number(a.shift === "available") || a.active_chats - b.active_chats || a.display_name.localeCompare(b.display_name));
}
