import { useEffect, useRef, useState } from "preact/hooks";

import { equalBytes } from "../mls/identity";
import { ServerError } from "../net/connection";
import { type BoardRow, CATEGORIES, type Category, type QueueEntry, SEVERITIES, type Severity, type ShiftState, type StrandedChat } from "../protocol";
import { cannedFor } from "./canned";
import { CirclesPanel } from "./Circles";
import { CATEGORY_LABELS, SEVERITY_LABELS, escalationStatusText } from "./escalations";
import type { ConsoleState, Conversation, StaffConsole } from "./staff";
import { presenceLabel, rescueTargets, strandedText } from "./presence";
import { hex } from "../util/hex";

function minutes(secs: number): string {
  return secs < 60 ? `${secs}s` : `${Math.floor(secs / 60)} min`;
}

const SHIFT_LABELS: Record<ShiftState, string> = {
  available: "Available",
  on_break: "On break",
  clocked_in: "Clocked in (no offers)",
  clocked_out: "Clocked out",
};

/** Run an action and show its failure in words (never content). */
function useAction(setProblem: (p: string | undefined) => void) {
  return (fn: () => Promise<unknown>) => {
    setProblem(undefined);
    fn().catch((e: unknown) => setProblem(e instanceof Error ? e.message : String(e)));
  };
}

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

function Offers({ state, staff, act }: { state: ConsoleState; staff: StaffConsole; act: (fn: () => Promise<unknown>) => void }) {
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

function Escalations({ state, staff, act }: { state: ConsoleState; staff: StaffConsole; act: (fn: () => Promise<unknown>) => void }) {
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

function Queue({ queue, depth, onTake }: { queue: QueueEntry[]; depth: number; onTake: (id: number) => void }) {
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

function Board({ staff }: { staff: StaffConsole }) {
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
  if (board === undefined) return <p>Loading the board…</p>;
  return (
    <section class="board" aria-labelledby="board-h">
      <h2 id="board-h">Supervisor board</h2>
      <p>
        Queue: {board.queueDepth} · longest wait {minutes(board.longestWaitSecs)} · open escalations {board.openEscalations}
      </p>
      <table>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Role</th>
            <th scope="col">Shift</th>
            <th scope="col">Connected</th>
            <th scope="col">Chats</th>
          </tr>
        </thead>
        <tbody>
          {board.staff.map((row: BoardRow, i) => (
            <tr key={i}>
              <td>{row.display_name}</td>
              <td>{row.role}</td>
              <td>{SHIFT_LABELS[row.shift]}</td>
              <td>{row.connected ? "yes" : "no"}</td>
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
function Stranded({ staff, board, onDone }: { staff: StaffConsole; board: Awaited<ReturnType<StaffConsole["board"]>>; onDone: () => void }) {
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
      <h3 id="stranded-h">Stranded chats</h3>
      {board.stranded.length === 0 && <p class="muted">None.</p>}
      <ul class="stranded">
        {board.stranded.map((chat) => {
          const targets = rescueTargets(board.staff, chat);
          const picked = choice[chat.ticket_id] ?? "";
          return (
            <li key={chat.ticket_id} data-ticket={chat.ticket_id}>
              <span>{strandedText(chat)}</span>{" "}
              <button type="button" onClick={() => rescue(chat, undefined)}>
                Take it myself
              </button>{" "}
              <label>
                Give to{" "}
                <select value={picked} onChange={(e) => setChoice({ ...choice, [chat.ticket_id]: e.currentTarget.value })}>
                  <option value="">choose a colleague</option>
                  {targets.map((r) => (
                    <option key={r.account_id} value={String(r.account_id)}>
                      {r.display_name}
                    </option>
                  ))}
                </select>
              </label>{" "}
              <button type="button" disabled={picked === ""} onClick={() => rescue(chat, Number(picked))}>
                Reassign
              </button>
            </li>
          );
        })}
      </ul>
      {status !== undefined && <p role="status">{status}</p>}
    </section>
  );
}

interface PaneProps {
  staff: StaffConsole;
  conversation: Conversation;
  closingTags: string[];
  act: (fn: () => Promise<unknown>) => void;
}

function ConversationPane({ staff, conversation: c, closingTags, act }: PaneProps) {
  const [draft, setDraft] = useState("");
  const [panel, setPanel] = useState<"none" | "transfer" | "close" | "block" | "invite" | "escalate">("none");
  const [severity, setSeverity] = useState<Severity>("high");
  const [category, setCategory] = useState<Category>("violence");
  const [note, setNote] = useState("");
  const [to, setTo] = useState("");
  const [tag, setTag] = useState(closingTags[0] ?? "");
  const [blockHours, setBlockHours] = useState("24");
  const [reason, setReason] = useState("");
  const [member, setMember] = useState("");
  const end = useRef<HTMLLIElement>(null);
  useEffect(() => end.current?.scrollIntoView?.({ block: "end" }), [c.lines.length]);
  const canned = cannedFor(c.ticket?.language);
  const respondingHere = c.escalation?.responder !== undefined && equalBytes(c.escalation.responder.signature_key, staff.clientId);
  const gid = c.groupId;

  return (
    <section class="conversation-pane" aria-labelledby="pane-h" data-group={hex(gid)}>
      <h2 id="pane-h">{c.title}</h2>
      {c.ticket !== undefined && (
        <p class="muted">
          {c.ticket.language} · {c.ticket.topic}
          {c.ticket.urgent && " · urgent"}
        </p>
      )}
      {!c.ended && presenceLabel(c.presence) !== undefined && (
        <p class={`presence ${c.presence ?? ""}`} role="status">
          {presenceLabel(c.presence)}
        </p>
      )}
      {c.sosAlert && !c.ended && (c.escalation === undefined || c.escalation.status === "resolved") && (
        <p class="sos-alert" role="alert">
          The visitor pressed “I'm in danger now” — consider escalating.
        </p>
      )}
      {c.escalation !== undefined && (
        <p class={`escalation-status ${c.escalation.status}`} role="status">
          {escalationStatusText(c.escalation)}
        </p>
      )}
      <ol class="lines" role="log" aria-live="polite" aria-label="Messages">
        {c.lines.map((line) =>
          line.kind === "system" ? (
            <li key={line.id} class="line system">
              {line.text}
            </li>
          ) : line.kind === "mine" ? (
            <li key={line.id} class="line mine" data-delivery={line.delivery}>
              <span class="text">{line.text}</span>
              <small class="delivery">{line.delivery === "sending" ? "Sending…" : line.delivery === "sent" ? "Sent" : "Not sent"}</small>
            </li>
          ) : (
            <li key={line.id} class="line theirs">
              <small class="from">{line.from}</small>
              <span class="text">{line.text}</span>
            </li>
          ),
        )}
        <li ref={end} aria-hidden="true" class="end" />
      </ol>
      {!c.ended && c.visitorTyping === true && (
        <p class="typing muted" aria-live="polite">
          The visitor is typing…
        </p>
      )}
      {!c.ended && c.joined && (
        <form
          class="composer"
          onSubmit={(e) => {
            e.preventDefault();
            const text = draft.trim();
            if (text) act(() => staff.send(gid, text));
            setDraft("");
          }}
        >
          <label class="visually-hidden" for="console-draft">
            Message
          </label>
          <textarea
            id="console-draft"
            rows={3}
            value={draft}
            onInput={(e) => {
              setDraft(e.currentTarget.value);
              if (e.currentTarget.value.trim() !== "") staff.typing(gid);
            }}
            onKeyDown={(e) => {
              if (e.key === "Enter" && !e.shiftKey) {
                e.preventDefault();
                e.currentTarget.form?.requestSubmit();
              }
            }}
          />
          <button type="submit" class="send">
            Send
          </button>
        </form>
      )}
      {!c.ended && c.joined && canned.length > 0 && (
        <label class="canned">
          Canned response ({c.ticket?.language ?? "en"}):{" "}
          <select
            value=""
            onChange={(e) => {
              const v = e.currentTarget.value;
              if (v) setDraft(draft ? `${draft} ${v}` : v);
            }}
          >
            <option value="">Choose…</option>
            {canned.map((text, i) => (
              <option key={i} value={text}>
                {text.length > 60 ? `${text.slice(0, 60)}…` : text}
              </option>
            ))}
          </select>
        </label>
      )}
      {!c.ended && c.kind === "chat" && (
        <div class="actions">
          <button type="button" aria-expanded={panel === "transfer"} onClick={() => setPanel(panel === "transfer" ? "none" : "transfer")}>
            Transfer
          </button>
          <button type="button" aria-expanded={panel === "close"} onClick={() => setPanel(panel === "close" ? "none" : "close")}>
            Close
          </button>
          <button type="button" aria-expanded={panel === "block"} onClick={() => setPanel(panel === "block" ? "none" : "block")}>
            Block
          </button>
          {(c.escalation === undefined || c.escalation.status === "resolved" || c.escalation.status === "handed_off") && (
            <button type="button" class="escalate" aria-expanded={panel === "escalate"} onClick={() => setPanel(panel === "escalate" ? "none" : "escalate")}>
              Escalate
            </button>
          )}
          {c.escalation?.status === "accepted" && !respondingHere && (
            <button
              type="button"
              onClick={() => {
                if (window.confirm("Leave this chat to the crisis responder? You will be removed from it.")) {
                  act(() => staff.resolveEscalation(gid, "handed_off"));
                }
              }}
            >
              Leave the chat to the responder
            </button>
          )}
          {(c.escalation?.status === "accepted" || c.escalation?.status === "open") && (
            <button type="button" onClick={() => act(() => staff.resolveEscalation(gid, "resolved"))}>
              Resolved
            </button>
          )}
        </div>
      )}
      {panel === "escalate" && (
        <form
          class="panel"
          onSubmit={(e) => {
            e.preventDefault();
            act(async () => {
              await staff.escalate(gid, severity, category);
              setPanel("none");
            });
          }}
        >
          <p class="small">
            A crisis responder on duty joins this chat. They see only what is written after they join. The request carries no content.
          </p>
          <label>
            Severity
            <select value={severity} onChange={(e) => setSeverity(e.currentTarget.value as Severity)}>
              {SEVERITIES.map((v) => (
                <option key={v} value={v}>
                  {SEVERITY_LABELS[v]}
                </option>
              ))}
            </select>
          </label>
          <label>
            Category
            <select value={category} onChange={(e) => setCategory(e.currentTarget.value as Category)}>
              {CATEGORIES.map((v) => (
                <option key={v} value={v}>
                  {CATEGORY_LABELS[v]}
                </option>
              ))}
            </select>
          </label>
          <button type="submit">Escalate to the crisis line</button>
        </form>
      )}
      {!c.ended && c.kind === "peer" && (
        <div class="actions">
          <button type="button" onClick={() => setPanel(panel === "invite" ? "none" : "invite")}>
            Invite / remove
          </button>
          <button type="button" onClick={() => staff.leave(gid)}>
            Leave
          </button>
        </div>
      )}
      {panel === "transfer" && (
        <form
          class="panel"
          onSubmit={(e) => {
            e.preventDefault();
            const account = to.trim() === "" ? undefined : Number(to);
            act(async () => {
              await staff.transfer(gid, note, account);
              setPanel("none");
              setNote("");
            });
          }}
        >
          <label>
            Hand-over note (sealed to the colleague, never shown to the visitor)
            <textarea rows={3} value={note} onInput={(e) => setNote(e.currentTarget.value)} />
          </label>
          <label>
            Colleague's account number (empty: the best available)
            <input inputMode="numeric" value={to} onInput={(e) => setTo(e.currentTarget.value)} />
          </label>
          <button type="submit">Transfer the chat</button>
        </form>
      )}
      {panel === "close" && (
        <form
          class="panel"
          onSubmit={(e) => {
            e.preventDefault();
            act(async () => {
              await staff.close(gid, tag);
              setPanel("none");
            });
          }}
        >
          <label>
            Topic tag
            <select value={tag} onChange={(e) => setTag(e.currentTarget.value)}>
              {closingTags.map((t) => (
                <option key={t} value={t}>
                  {t}
                </option>
              ))}
            </select>
          </label>
          <button type="submit">Close the chat</button>
        </form>
      )}
      {panel === "block" && (
        <form
          class="panel"
          onSubmit={(e) => {
            e.preventDefault();
            act(async () => {
              await staff.block(gid, Number(blockHours) * 3600, reason || "abuse");
              setPanel("none");
            });
          }}
        >
          <label>
            For
            <select value={blockHours} onChange={(e) => setBlockHours(e.currentTarget.value)}>
              <option value="1">1 hour</option>
              <option value="24">1 day</option>
              <option value="168">1 week</option>
              <option value="720">30 days</option>
            </select>
          </label>
          <label>
            Reason (audit log only)
            <input value={reason} maxLength={200} onInput={(e) => setReason(e.currentTarget.value)} />
          </label>
          <button type="submit">Block the visitor</button>
        </form>
      )}
      {panel === "invite" && (
        <form
          class="panel"
          onSubmit={(e) => {
            e.preventDefault();
            act(async () => {
              await staff.invite(gid, member);
              setMember("");
            });
          }}
        >
          <label>
            Colleague's device key
            <input value={member} onInput={(e) => setMember(e.currentTarget.value)} />
          </label>
          <button type="submit">Invite</button>
          <button type="button" onClick={() => act(() => staff.removeMember(gid, member))}>
            Remove
          </button>
          <p class="muted small">Members: {staff.members(gid).map((m) => m.slice(0, 8)).join(", ")}</p>
        </form>
      )}
      {c.ended && (
        <button type="button" onClick={() => staff.dismiss(gid)}>
          Remove from the list
        </button>
      )}
    </section>
  );
}
