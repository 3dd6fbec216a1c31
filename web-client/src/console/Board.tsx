// The supervisor board: queue, staff on shift, open escalations, and chats
// stranded by an absent counsellor (give one to a colleague, or take it).

import { useEffect, useState } from "preact/hooks";

import type { BoardRow, StrandedChat } from "../protocol";
import { rescueTargets, strandedText } from "./presence";
import type { StaffConsole } from "./staff";
import { ct, roleLabel } from "../i18n/console";
import { minutes, shiftLabel } from "./ui";

export function Board({ staff }: { staff: StaffConsole }) {
  const [board, setBoard] = useState<Awaited<ReturnType<StaffConsole["board"]>> | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  useEffect(() => {
    let live = true;
    const load = () =>
      staff
        .board()
        .then((b) => live && setBoard(b))
        .catch((e: unknown) => live && setError(String(e)));
    void load();
    const timer = setInterval(load, 5000);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, [staff]);
  if (error !== undefined) return <p role="alert">{error}</p>;
  if (board === undefined) return <p>{ct("board.loading")}</p>;
  return (
    <section class="board" aria-labelledby="board-h">
      <h2 id="board-h">{ct("bar.board")}</h2>
      <p>
        {ct("board.summary", board.queueDepth, minutes(board.longestWaitSecs), board.openEscalations)}
      </p>
      <table>
        <thead>
          <tr>
            <th scope="col">{ct("board.name")}</th>
            <th scope="col">{ct("board.role")}</th>
            <th scope="col">{ct("board.shift")}</th>
            <th scope="col">{ct("board.connected")}</th>
            <th scope="col">{ct("board.chats")}</th>
          </tr>
        </thead>
        <tbody>
          {board.staff.map((row: BoardRow, i) => (
            <tr key={i}>
              <td>{row.display_name}</td>
              <td>{roleLabel(row.role)}</td>
              <td>{shiftLabel(row.shift)}</td>
              <td>{row.connected ? ct("board.yes") : ct("board.no")}</td>
              <td>
                {row.active_chats} / {row.max_chats}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <Stranded
        staff={staff}
        board={board}
        onDone={() =>
          void staff
            .board()
            .then(setBoard)
            .catch(() => undefined)
        }
      />
    </section>
  );
}

/** Chats whose counsellor is away: give one to a colleague, or take it. */
export function Stranded({ staff, board, onDone }: { staff: StaffConsole; board: Awaited<ReturnType<StaffConsole["board"]>>; onDone: () => void }) {
  const [choice, setChoice] = useState<Record<number, string>>({});
  const [status, setStatus] = useState<string | undefined>(undefined);
  const rescue = (chat: StrandedChat, to: number | undefined) => {
    setStatus(undefined);
    staff.rescueChat(chat.group_id, to).then(
      (badge) => {
        setStatus(`The chat is ${badge.display_name}'s now; the visitor is told and her device adds them.`);
        if (to === undefined) staff.open(chat.group_id);
        onDone();
      },
      (e: unknown) => setStatus(`Could not move the chat: ${(e as Error).message}`),
    );
  };
  return (
    <section aria-labelledby="stranded-h">
      <h3 id="stranded-h">{ct("board.stranded")}</h3>
      {board.stranded.length === 0 && <p class="muted">{ct("board.none")}</p>}
      <ul class="stranded">
        {board.stranded.map((chat) => {
          const targets = rescueTargets(board.staff, chat);
          const picked = choice[chat.ticket_id] ?? "";
          return (
            <li key={chat.ticket_id} data-ticket={chat.ticket_id}>
              <span>{strandedText(chat)}</span>{" "}
              <button type="button" onClick={() => rescue(chat, undefined)}>
                {ct("board.takeMyself")}
              </button>{" "}
              <label>
                {ct("board.giveTo")}{" "}
                <select value={picked} onChange={(e) => setChoice({ ...choice, [chat.ticket_id]: e.currentTarget.value })}>
                  <option value="">{ct("board.chooseColleague")}</option>
                  {targets.map((r) => (
                    <option key={r.account_id} value={String(r.account_id)}>
                      {r.display_name}
                    </option>
                  ))}
                </select>
              </label>{" "}
              <button type="button" disabled={picked === ""} onClick={() => rescue(chat, Number(picked))}>
                {ct("board.reassign")}
              </button>
            </li>
          );
        })}
      </ul>
      {status !== undefined && <p role="status">{status}</p>}
    </section>
  );
}
