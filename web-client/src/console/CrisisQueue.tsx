// A crisis responder's queue of escalations (each checked against the
// counsellor's badge before it can be accepted).

import { equalBytes } from "../mls/identity";
import { ct, languageLabel } from "../i18n/console";
import { categoryLabel, severityLabel } from "./escalations";
import type { ConsoleState, StaffConsole } from "./staff";
import { type Act, minutes } from "./ui";

export function Escalations({ state, staff, act }: { state: ConsoleState; staff: StaffConsole; act: Act }) {
  return (
    <section aria-labelledby="escalations-h" class="escalations">
      <h2 id="escalations-h">{ct("esc.heading", state.escalations.length)}</h2>
      {state.escalations.length === 0 && <p class="muted">{ct("esc.none")}</p>}
      <ul>
        {state.escalations.map(({ entry, check }) => {
          const mine = entry.responder !== undefined && equalBytes(entry.responder.signature_key, staff.clientId);
          return (
            <li key={entry.escalation_id} class={`escalation ${entry.request.severity}`}>
              <span>
                <strong>{severityLabel(entry.request.severity)}</strong> · {categoryLabel(entry.request.category)} · {languageLabel(entry.language)} ·{" "}
                {ct("work.waited", minutes(entry.waited_secs))} · {ct("esc.from", entry.counsellor.display_name)}{" "}
                {check === "verified" ? (
                  <span class="verified-tag">{ct("esc.verified")}</span>
                ) : (
                  <strong class="unverified-tag">{ct("esc.unverified")}</strong>
                )}
              </span>
              {mine ? (
                <button type="button" onClick={() => staff.open(entry.request.group_id)}>
                  {ct("esc.open.button")}
                </button>
              ) : (
                <button
                  type="button"
                  class="accept"
                  disabled={check !== "verified" || entry.status !== "open"}
                  onClick={() => act(async () => staff.open((await staff.acceptEscalation(entry.escalation_id)).groupId))}
                >
                  {ct("work.accept")}
                </button>
              )}
            </li>
          );
        })}
      </ul>
    </section>
  );
}
