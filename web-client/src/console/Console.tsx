// The console's screen: the bar (who I am, shift, board, log out), the
// side (crisis queue, offers, queue, conversations, circles, team
// messages) and the conversation on view. Each part is its own file.

import { useState } from "preact/hooks";

import { ServerError } from "../net/connection";
import { hex } from "../util/hex";
import { Board } from "./Board";
import { CirclesPanel } from "./Circles";
import { ConversationPane } from "./ConversationPane";
import { Escalations } from "./CrisisQueue";
import { Offers, Queue } from "./Offers";
import { presenceLabel } from "./presence";
import type { ConsoleState, StaffConsole } from "./staff";
import { SHIFT_LABELS, useAction } from "./ui";

interface Props {
  console: StaffConsole;
  state: ConsoleState;
  onLogout: () => void;
}

export function ConsoleScreen({ console: staff, state, onLogout }: Props) {
  const [problem, setProblem] = useState<string | undefined>(undefined);
  const [boardOpen, setBoardOpen] = useState(false);
  /** The server refused "Clocked out" with `handover_required`: offer the hand-over. */
  const [handoverAsked, setHandoverAsked] = useState<string | undefined>(undefined);
  const act = useAction(setProblem);
  const active = state.conversations.find((c) => hex(c.groupId) === staff.activeGroup);
  const supervisor = state.me.role === "supervisor" || state.me.role === "admin";
  const shownProblem = problem ?? state.problem;

  return (
    <div class="console">
      <header class="console-bar">
        <div>
          <strong>{state.me.display_name}</strong> <span class="muted">({state.me.role})</span>
          {!state.connected && <span class="offline"> · disconnected</span>}
        </div>
        <div class="shift" role="group" aria-label="Shift state">
          {(["available", "on_break", "clocked_out"] as const).map((s) => (
            <button
              type="button"
              key={s}
              aria-pressed={state.shift === s}
              onClick={() =>
                act(async () => {
                  const open = state.conversations.filter((c) => c.kind === "chat" && !c.ended).length;
                  const handover = s === "clocked_out" && open > 0 && window.confirm(`Hand ${open} open chat(s) back to the queue?`);
                  setHandoverAsked(undefined);
                  try {
                    await staff.setShift(s, handover);
                  } catch (e) {
                    // Chats this console does not show (state lost) are still mine on the server.
                    if (e instanceof ServerError && e.code === "handover_required") setHandoverAsked(e.frame.message);
                    else throw e;
                  }
                })
              }
            >
              {SHIFT_LABELS[s]}
            </button>
          ))}
        </div>
        {state.me.role === "crisis_responder" && (
          <div class="shift" role="group" aria-label="Crisis duty">
            {(["on_duty", "off_duty"] as const).map((d) => (
              <button type="button" key={d} aria-pressed={state.duty === d} onClick={() => act(() => staff.setDuty(d))}>
                {d === "on_duty" ? "On duty" : "Off duty"}
              </button>
            ))}
          </div>
        )}
        <div>
          {supervisor && (
            <button type="button" onClick={() => setBoardOpen(!boardOpen)} aria-expanded={boardOpen}>
              Supervisor board
            </button>
          )}
          <button type="button" onClick={onLogout}>
            Log out
          </button>
        </div>
      </header>
      {shownProblem !== undefined && (
        <p class="problem" role="alert">
          {shownProblem}
        </p>
      )}
      {handoverAsked !== undefined && (
        <div class="problem" role="alert">
          <p>{handoverAsked}</p>
          <button
            type="button"
            class="primary"
            onClick={() =>
              act(async () => {
                await staff.setShift("clocked_out", true);
                setHandoverAsked(undefined);
              })
            }
          >
            Hand over my open chats and clock out
          </button>
        </div>
      )}
      {boardOpen && supervisor && <Board staff={staff} />}
      <div class="console-body">
        <nav class="side" aria-label="Work">
          {state.me.role === "crisis_responder" && state.duty === "on_duty" && <Escalations state={state} staff={staff} act={act} />}
          <Offers state={state} staff={staff} act={act} />
          <Queue queue={state.queue} depth={state.queueDepth} onTake={(id) => act(async () => staff.open((await staff.accept(id)).groupId))} />
          <section aria-labelledby="chats-h">
            <h2 id="chats-h">Conversations</h2>
            {state.conversations.length === 0 && <p class="muted">None yet.</p>}
            <ul class="conversations">
              {state.conversations.map((c) => (
                <li key={hex(c.groupId)}>
                  <button
                    type="button"
                    class="conversation"
                    aria-current={hex(c.groupId) === staff.activeGroup ? "true" : undefined}
                    onClick={() => staff.open(c.groupId)}
                  >
                    <span>
                      {c.ticket?.urgent && <strong class="urgent-tag">URGENT </strong>}
                      {c.title}
                      {c.ended && " (ended)"}
                      {!c.ended && presenceLabel(c.presence) !== undefined && <em class="presence"> · {presenceLabel(c.presence)}</em>}
                    </span>
                    {c.unread > 0 && (
                      <span class="unread" aria-label={`${c.unread} unread`}>
                        {c.unread}
                      </span>
                    )}
                  </button>
                </li>
              ))}
            </ul>
            <button type="button" onClick={() => act(async () => staff.open((await staff.createPeerGroup("Peer group")).groupId))}>
              New peer group
            </button>
          </section>
          {(state.me.role === "counsellor" || state.me.role === "supervisor") && (
            <CirclesPanel staff={staff} circles={state.circles} languages={state.me.languages} act={act} />
          )}
          {state.teamMessages.length > 0 && (
            <section aria-labelledby="team-h">
              <h2 id="team-h">Messages left for the team</h2>
              <ul>
                {state.teamMessages.map((m) => (
                  <li key={hex(m.group_id)}>
                    {m.language} · {new Date(m.left_at * 1000).toLocaleString()}{" "}
                    <button type="button" onClick={() => act(async () => { await staff.takeTeamMessage(m.group_id); staff.open(m.group_id); })}>
                      Take
                    </button>
                  </li>
                ))}
              </ul>
            </section>
          )}
          <p class="muted small">
            Your device key (for peer-group invites): <code class="key">{hex(staff.clientId)}</code>
          </p>
        </nav>
        <main class="pane">
          {active === undefined ? (
            <p class="muted">Pick a conversation, accept an offer, or take a ticket from the queue.</p>
          ) : (
            <ConversationPane key={hex(active.groupId)} staff={staff} conversation={active} closingTags={state.closingTags} act={act} />
          )}
        </main>
      </div>
    </div>
  );
}
