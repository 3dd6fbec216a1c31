// Offers made to me and the queue I can take tickets from.

import type { QueueEntry } from "../protocol";
import type { ConsoleState, StaffConsole } from "./staff";
import { type Act, minutes } from "./ui";

export function Offers({ state, staff, act }: { state: ConsoleState; staff: StaffConsole; act: Act }) {
  if (state.offers.length === 0) return null;
  return (
    <section aria-labelledby="offers-h" class="offers">
      <h2 id="offers-h">Offered to you</h2>
      <ul>
        {state.offers.map((o) => (
          <li key={o.ticket.ticket_id} class="offer">
            <span>
              {o.ticket.urgent && <strong>URGENT · </strong>}
              {o.ticket.language} · {o.ticket.topic} · waited {minutes(o.ticket.waited_secs)}
              {o.ticket.handover && " · hand-over"}
            </span>
            <button type="button" class="accept" onClick={() => act(async () => staff.open((await staff.accept(o.ticket.ticket_id)).groupId))}>
              Accept
            </button>
            <button type="button" onClick={() => act(() => staff.declineOffer(o.ticket.ticket_id))}>
              Decline
            </button>
          </li>
        ))}
      </ul>
    </section>
  );
}

export function Queue({ queue, depth, onTake }: { queue: QueueEntry[]; depth: number; onTake: (id: number) => void }) {
  return (
    <section aria-labelledby="queue-h">
      <h2 id="queue-h">Queue ({depth})</h2>
      {queue.length === 0 ? (
        <p class="muted">Nobody is waiting.</p>
      ) : (
        <table class="queue-table">
          <thead>
            <tr>
              <th scope="col">Language</th>
              <th scope="col">Topic</th>
              <th scope="col">Urgent</th>
              <th scope="col">Wait</th>
              <th scope="col">
                <span class="visually-hidden">Action</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {queue.map((t) => (
              <tr key={t.ticket_id}>
                <td>{t.language}</td>
                <td>
                  {t.topic}
                  {t.handover && " (hand-over)"}
                </td>
                <td>{t.urgent ? "yes" : ""}</td>
                <td>{minutes(t.waited_secs)}</td>
                <td>
                  <button type="button" onClick={() => onTake(t.ticket_id)}>
                    Take
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
