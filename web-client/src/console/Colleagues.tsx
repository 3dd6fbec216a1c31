// The transfer form's "to whom": a supervisor picks a colleague by name,
// with shift and load; a counsellor's chat goes to the best available.

import { useEffect, useState } from "preact/hooks";

import { ct } from "../i18n/console";
import type { BoardRow } from "../protocol";
import { transferTargets } from "./colleagues";
import type { StaffConsole } from "./staff";
import { shiftLabel } from "./ui";

interface Props {
  staff: StaffConsole;
  /** Supervisors and admins read the board; counsellors do not. */
  canPick: boolean;
  myAccountId: number;
  value: string;
  onChange: (accountId: string) => void;
}

export function ColleaguePicker({ staff, canPick, myAccountId, value, onChange }: Props) {
  const [rows, setRows] = useState<BoardRow[] | undefined>(undefined);
  useEffect(() => {
    if (!canPick) return;
    let live = true;
    staff
      .board()
      .then((b) => live && setRows(b.staff))
      .catch(() => live && setRows([]));
    return () => {
      live = false;
    };
  }, [staff, canPick]);
  if (!canPick) return <p class="muted small">{ct("pane.bestAvailableHint")}</p>;
  const targets = transferTargets(rows ?? [], myAccountId);
  return (
    <label>
      {ct("pane.transferTo")}
      <select value={value} onChange={(e) => onChange(e.currentTarget.value)}>
        <option value="">{ct("pane.bestAvailable")}</option>
        {targets.map((r) => (
          <option key={r.account_id} value={String(r.account_id)}>
            {ct("pane.colleagueRow", r.display_name, shiftLabel(r.shift), r.active_chats, r.max_chats)}
          </option>
        ))}
      </select>
    </label>
  );
}
