// The console's screen: the bar (heading, who I am, shift, language, board,
// log out), the side (crisis queue, the one work list, circles, team
// messages) and the conversation on view. Below 700 px it is chat-first:
// with a conversation open only the conversation shows, with a button
// back to the list. Each part is its own file.

import { useEffect, useState } from "preact/hooks";

import { CONSOLE_LANGUAGES, LANGUAGE_NAMES, type Language, consoleLanguage, ct, languageLabel, roleLabel } from "../i18n/console";
import { ServerError } from "../net/connection";
import type { ShiftState } from "../protocol";
import { hex } from "../util/hex";
import { Board } from "./Board";
import { CirclesPanel } from "./Circles";
import { ConversationPane } from "./ConversationPane";
import { Escalations } from "./CrisisQueue";
import { PANE_SHORTCUT_EVENT, shortcutOf } from "./shortcuts";
import type { ConsoleState, StaffConsole } from "./staff";
import { shiftLabel, useAction } from "./ui";
import { WorkList } from "./WorkList";
import { nextConversation, nextToAccept, workList } from "./worklist";

interface Props {
  console: StaffConsole;
  state: ConsoleState;
  onLogout: () => void;
  onLanguage: (language: Language) => void;
  /** The counsellor clocked in (any shift but "clocked out"): ask for notifications, once. */
  onClockIn?: () => void;
}

/** How often waits and "wrote … ago" are brought up to date. */
const TICK_MS = 15_000;

export function LanguagePicker({ onLanguage }: { onLanguage: (language: Language) => void }) {
  return (
    <label class="language-picker">
      {ct("lang.label")}{" "}
      <select value={consoleLanguage()} onChange={(e) => onLanguage(e.currentTarget.value as Language)}>
        {CONSOLE_LANGUAGES.map((l) => (
          <option key={l} value={l} lang={l}>
            {LANGUAGE_NAMES[l]}
          </option>
        ))}
      </select>
    </label>
  );
}

export function ConsoleScreen({ console: staff, state, onLogout, onLanguage, onClockIn }: Props) {
  const [problem, setProblem] = useState<string | undefined>(undefined);
  const [boardOpen, setBoardOpen] = useState(false);
  /** The server refused "Clocked out" with `handover_required`: offer the hand-over. */
  const [handoverAsked, setHandoverAsked] = useState<string | undefined>(undefined);
  const [now, setNow] = useState(Date.now());
  const act = useAction(setProblem);
  const active = state.conversations.find((c) => hex(c.groupId) === staff.activeGroup);
  const supervisor = state.me.role === "supervisor" || state.me.role === "admin";
  const shownProblem = problem ?? state.problem;
  const items = workList({ offers: state.offers, queue: state.queue, queueSeenAt: state.queueSeenAt, conversations: state.conversations });

  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), TICK_MS);
    return () => clearInterval(timer);
  }, []);
  // Re-render brings the clock along too.
  const shownNow = Math.max(now, Date.now());

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const shortcut = shortcutOf(e);
      if (shortcut === undefined) return;
      e.preventDefault();
      if (shortcut === "next") {
        const next = nextConversation(items, active);
        if (next !== undefined) staff.open(next.groupId);
      } else if (shortcut === "accept") {
        const ticket = nextToAccept(items);
        if (ticket === undefined) setProblem(ct("keys.nothingToAccept"));
        else act(async () => staff.open((await staff.accept(ticket.ticket_id)).groupId));
      } else {
        window.dispatchEvent(new CustomEvent(PANE_SHORTCUT_EVENT, { detail: shortcut }));
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  });

  const setShift = (s: ShiftState) => {
    // Asked from the click itself: browsers ask for permission only during a user gesture.
    if (s !== "clocked_out") onClockIn?.();
    act(async () => {
      const open = state.conversations.filter((c) => c.kind === "chat" && !c.ended).length;
      const handover = s === "clocked_out" && open > 0 && window.confirm(ct("shift.handoverConfirm", open));
      setHandoverAsked(undefined);
      try {
        await staff.setShift(s, handover);
      } catch (e) {
        // Chats this console does not show (state lost) are still mine on the server.
        if (e instanceof ServerError && e.code === "handover_required") setHandoverAsked(e.frame.message);
        else throw e;
      }
    });
  };

  return (
    <div class={`console${active !== undefined ? " has-active" : ""}`}>
      <header class="console-bar">
        <div class="who">
          <h1>{ct("app.title")}</h1>
          <p>
            <strong>{state.me.display_name}</strong> <span class="muted">({roleLabel(state.me.role)})</span>
            {!state.connected && <span class="offline"> · {ct("bar.disconnected")}</span>}
          </p>
        </div>
        <div class="shift-box">
          <p class={`shift-state ${state.shift}`} role="status">
            {ct("shift.now", shiftLabel(state.shift))}
            {state.shift === "clocked_in" && <span class="muted"> · {ct("shift.hintClockedIn")}</span>}
          </p>
          <div class="shift" role="group" aria-label={ct("shift.group")}>
            {(["available", "on_break", "clocked_out"] as const).map((s) => (
              <button type="button" key={s} aria-pressed={state.shift === s} onClick={() => setShift(s)}>
                {shiftLabel(s)}
              </button>
            ))}
          </div>
        </div>
        {state.me.role === "crisis_responder" && (
          <div class="shift" role="group" aria-label={ct("duty.group")}>
            {(["on_duty", "off_duty"] as const).map((d) => (
              <button
                type="button"
                key={d}
                aria-pressed={state.duty === d}
                onClick={() => {
                  if (d === "on_duty") onClockIn?.();
                  act(() => staff.setDuty(d));
                }}
              >
                {d === "on_duty" ? ct("duty.on") : ct("duty.off")}
              </button>
            ))}
          </div>
        )}
        <div class="bar-end">
          <LanguagePicker onLanguage={onLanguage} />
          {supervisor && (
            <button type="button" onClick={() => setBoardOpen(!boardOpen)} aria-expanded={boardOpen}>
              {ct("bar.board")}
            </button>
          )}
          <button type="button" onClick={onLogout}>
            {ct("bar.logout")}
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
            {ct("shift.handoverButton")}
          </button>
        </div>
      )}
      {boardOpen && supervisor && <Board staff={staff} />}
      <p class="shortcuts muted small">{ct("keys.help")}</p>
      <div class="console-body">
        <nav class="side" aria-label={ct("work.heading")}>
          {state.me.role === "crisis_responder" && state.duty === "on_duty" && <Escalations state={state} staff={staff} act={act} />}
          <WorkList items={items} staff={staff} act={act} queueDepth={state.queueDepth} now={shownNow} />
          <button type="button" onClick={() => act(async () => staff.open((await staff.createPeerGroup(ct("work.peerGroup"))).groupId))}>
            {ct("work.newPeerGroup")}
          </button>
          {state.teamMessages.length > 0 && (
            <section aria-labelledby="team-h">
              <h2 id="team-h">{ct("team.heading")}</h2>
              <ul>
                {state.teamMessages.map((m) => (
                  <li key={hex(m.group_id)}>
                    {languageLabel(m.language)} · {new Date(m.left_at * 1000).toLocaleString(consoleLanguage())}{" "}
                    <button
                      type="button"
                      onClick={() =>
                        act(async () => {
                          await staff.takeTeamMessage(m.group_id);
                          staff.open(m.group_id);
                        })
                      }
                    >
                      {ct("team.take")}
                    </button>
                  </li>
                ))}
              </ul>
            </section>
          )}
          {(state.me.role === "counsellor" || state.me.role === "supervisor") && (
            <CirclesPanel staff={staff} circles={state.circles} languages={state.me.languages} act={act} />
          )}
          <details class="muted small device-key">
            <summary>{ct("deviceKey")}</summary>
            <code class="key">{hex(staff.clientId)}</code>
          </details>
        </nav>
        <main class="pane">
          {active === undefined ? (
            <p class="muted">{ct("pane.empty")}</p>
          ) : (
            <>
              <button type="button" class="back" onClick={() => staff.open(undefined)}>
                {ct("pane.back")}
              </button>
              <ConversationPane
                key={hex(active.groupId)}
                staff={staff}
                conversation={active}
                closingTags={state.closingTags}
                act={act}
                supervisor={supervisor}
                myAccountId={state.me.account_id}
              />
            </>
          )}
        </main>
      </div>
    </div>
  );
}
