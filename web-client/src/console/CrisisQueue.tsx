// A crisis responder's queue of escalations (each checked against the
// counsellor's badge before it can be accepted).

import { equalBytes } from "../mls/identity";
import { CATEGORY_LABELS, SEVERITY_LABELS } from "./escalations";
import type { ConsoleState, StaffConsole } from "./staff";
import { type Act, minutes } from "./ui";

export function Escalations({ state, staff, act }: { state: ConsoleState; staff: StaffConsole; act: Act }) {
  return (
    <section aria-labelledby="escalations-h" class="escalations">
      <h2 id="escalations-h">Escalations ({state.escalations.length})</h2>
      {state.escalations.length === 0 && <p class="muted">No escalation is waiting.</p>}
      <ul>
        {state.escalations.map(({ entry, check }) => {
          const mine = entry.responder !== undefined && equalBytes(entry.responder.signature_key, staff.clientId);
          return (
            <li key={entry.escalation_id} class={`escalation ${entry.request.severity}`}>
              <span>
                <strong>{SEVERITY_LABELS[entry.request.severity]}</strong> · {CATEGORY_LABELS[entry.request.category]} · {entry.language} · waited{" "}
                {minutes(entry.waited_secs)} · from {entry.counsellor.display_name}{" "}
                {check === "verified" ? (
                  <span class="verified-tag">(signature verified)</span>
                ) : (
                  <strong class="unverified-tag">(NOT verified: do not trust)</strong>
                )}
              </span>
              {mine ? (
                <button type="button" onClick={() => staff.open(entry.request.group_id)}>
                  Open
                </button>
              ) : (
                <button
                  type="button"
                  class="accept"
                  disabled={check !== "verified" || entry.status !== "open"}
                  onClick={() => act(async () => staff.open((await staff.acceptEscalation(entry.escalation_id)).groupId))}
                >
                  Accept
                </button>
              )}
            </li>
          );
        })}
      </ul>
    </section>
  );
}
