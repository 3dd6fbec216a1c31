// One conversation on screen: its lines, the composer (with canned
// replies), and what can be done with it: transfer, close, block, escalate,
// invite or remove a peer, leave, dismiss.

import { useEffect, useRef, useState } from "preact/hooks";

import { ct, languageLabel, tagLabel } from "../i18n/console";

import { equalBytes } from "../mls/identity";
import { CATEGORIES, type Category, SEVERITIES, type Severity } from "../protocol";
import { hex } from "../util/hex";
import { cannedFor } from "./canned";
import { categoryLabel, escalationStatusText, severityLabel } from "./escalations";
import { ColleaguePicker } from "./Colleagues";
import { conversationTitle } from "./labels";
import { presenceLabel } from "./presence";
import type { Conversation, StaffConsole } from "./staff";
import { PANE_SHORTCUT_EVENT, type Shortcut } from "./shortcuts";
import type { Act } from "./ui";

interface PaneProps {
  staff: StaffConsole;
  conversation: Conversation;
  closingTags: string[];
  act: Act;
  /** Supervisors and admins pick the colleague a chat goes to by name. */
  supervisor?: boolean;
  myAccountId?: number;
}

export function ConversationPane({ staff, conversation: c, closingTags, act, supervisor = false, myAccountId = 0 }: PaneProps) {
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
  /** The canned reply last put into the draft, and the draft before it (choosing another replaces it). */
  const [canned, setCanned] = useState<{ before: string; text: string } | undefined>(undefined);
  const end = useRef<HTMLLIElement>(null);
  const draftBox = useRef<HTMLTextAreaElement>(null);
  const cannedBox = useRef<HTMLSelectElement>(null);
  const tagBox = useRef<HTMLSelectElement>(null);
  useEffect(() => end.current?.scrollIntoView?.({ block: "end" }), [c.lines.length]);
  const cannedTexts = cannedFor(c.ticket?.language);
  const canClose = !c.ended && c.kind === "chat";
  // Alt+C and Alt+R (shortcuts.ts) act on the conversation on screen.
  useEffect(() => {
    const onShortcut = (e: Event) => {
      const shortcut = (e as CustomEvent<Shortcut>).detail;
      if (shortcut === "close" && canClose) {
        setPanel("close");
        setTimeout(() => tagBox.current?.focus(), 0);
      } else if (shortcut === "canned") {
        cannedBox.current?.focus();
      }
    };
    window.addEventListener(PANE_SHORTCUT_EVENT, onShortcut);
    return () => window.removeEventListener(PANE_SHORTCUT_EVENT, onShortcut);
  }, [canClose]);
  const chooseCanned = (text: string) => {
    if (!text) return;
    const before = canned !== undefined && draft === joinDraft(canned.before, canned.text) ? canned.before : draft;
    setCanned({ before, text });
    setDraft(joinDraft(before, text));
  };
  const respondingHere = c.escalation?.responder !== undefined && equalBytes(c.escalation.responder.signature_key, staff.clientId);
  const gid = c.groupId;

  return (
    <section class="conversation-pane" aria-labelledby="pane-h" data-group={hex(gid)}>
      <h2 id="pane-h">{conversationTitle(c)}</h2>
      {c.ticket?.urgent === true && !c.ended && <p class="urgent-tag">{ct("pane.urgent")}</p>}
      {!c.ended && presenceLabel(c.presence) !== undefined && (
        <p class={`presence ${c.presence ?? ""}`} role="status">
          {presenceLabel(c.presence)}
        </p>
      )}
      {c.sosAlert && !c.ended && (c.escalation === undefined || c.escalation.status === "resolved") && (
        <p class="sos-alert" role="alert">
          {ct("pane.sos")}
        </p>
      )}
      {c.escalation !== undefined && (
        <p class={`escalation-status ${c.escalation.status}`} role="status">
          {escalationStatusText(c.escalation)}
        </p>
      )}
      <ol class="lines" role="log" aria-live="polite" aria-label={ct("pane.messages")}>
        {c.lines.map((line) =>
          line.kind === "system" ? (
            <li key={line.id} class="line system">
              {line.text}
            </li>
          ) : line.kind === "mine" ? (
            <li key={line.id} class="line mine" data-delivery={line.delivery}>
              <span class="text">{line.text}</span>
              <small class="delivery">{line.delivery === "sending" ? ct("pane.sending") : line.delivery === "sent" ? ct("pane.sent") : ct("pane.notSent")}</small>
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
          {ct("pane.typing")}
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
            setCanned(undefined);
          }}
        >
          <label class="visually-hidden" for="console-draft">
            {ct("pane.message")}
          </label>
          <textarea
            id="console-draft"
            ref={draftBox}
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
            {ct("pane.send")}
          </button>
        </form>
      )}
      {!c.ended && c.joined && cannedTexts.length > 0 && (
        <label class="canned">
          {ct("pane.canned", languageLabel(c.ticket?.language ?? "en"))}:{" "}
          <select
            ref={cannedBox}
            value={canned?.text ?? ""}
            onChange={(e) => chooseCanned(e.currentTarget.value)}
            onKeyDown={(e) => {
              // Arrows try replies in the draft; Enter goes back to it to edit or send.
              if (e.key === "Enter" || e.key === "Escape") {
                e.preventDefault();
                draftBox.current?.focus();
              }
            }}
          >
            <option value="">{ct("pane.choose")}</option>
            {cannedTexts.map((text, i) => (
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
            {ct("pane.transfer")}
          </button>
          <button type="button" aria-expanded={panel === "close"} onClick={() => setPanel(panel === "close" ? "none" : "close")}>
            {ct("pane.close")}
          </button>
          <button type="button" aria-expanded={panel === "block"} onClick={() => setPanel(panel === "block" ? "none" : "block")}>
            {ct("pane.block")}
          </button>
          {(c.escalation === undefined || c.escalation.status === "resolved" || c.escalation.status === "handed_off") && (
            <button type="button" class="escalate" aria-expanded={panel === "escalate"} onClick={() => setPanel(panel === "escalate" ? "none" : "escalate")}>
              {ct("pane.escalate")}
            </button>
          )}
          {c.escalation?.status === "accepted" && !respondingHere && (
            <button
              type="button"
              onClick={() => {
                if (window.confirm(ct("pane.leaveToResponderConfirm"))) {
                  act(() => staff.resolveEscalation(gid, "handed_off"));
                }
              }}
            >
              {ct("pane.leaveToResponder")}
            </button>
          )}
          {(c.escalation?.status === "accepted" || c.escalation?.status === "open") && (
            <button type="button" onClick={() => act(() => staff.resolveEscalation(gid, "resolved"))}>
              {ct("pane.resolved")}
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
            {ct("pane.escalateHelp")}
          </p>
          <label>
            {ct("pane.severity")}
            <select value={severity} onChange={(e) => setSeverity(e.currentTarget.value as Severity)}>
              {SEVERITIES.map((v) => (
                <option key={v} value={v}>
                  {severityLabel(v)}
                </option>
              ))}
            </select>
          </label>
          <label>
            {ct("pane.category")}
            <select value={category} onChange={(e) => setCategory(e.currentTarget.value as Category)}>
              {CATEGORIES.map((v) => (
                <option key={v} value={v}>
                  {categoryLabel(v)}
                </option>
              ))}
            </select>
          </label>
          <button type="submit">{ct("pane.escalateSubmit")}</button>
        </form>
      )}
      {!c.ended && c.kind === "peer" && (
        <div class="actions">
          <button type="button" onClick={() => setPanel(panel === "invite" ? "none" : "invite")}>
            {ct("pane.inviteRemove")}
          </button>
          <button type="button" onClick={() => staff.leave(gid)}>
            {ct("pane.leave")}
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
            {ct("pane.note")}
            <textarea rows={3} value={note} onInput={(e) => setNote(e.currentTarget.value)} />
          </label>
          <ColleaguePicker staff={staff} canPick={supervisor} myAccountId={myAccountId} value={to} onChange={setTo} />
          <button type="submit">{ct("pane.transferSubmit")}</button>
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
            {ct("pane.tag")}
            <select
              ref={tagBox}
              value={tag}
              onChange={(e) => setTag(e.currentTarget.value)}
              onKeyDown={(e) => {
                // Alt+C, a tag, Enter: closed without the mouse.
                if (e.key === "Enter") {
                  e.preventDefault();
                  e.currentTarget.form?.requestSubmit();
                }
              }}
            >
              {closingTags.map((t) => (
                <option key={t} value={t}>
                  {tagLabel(t)}
                </option>
              ))}
            </select>
          </label>
          <button type="submit">{ct("pane.closeSubmit")}</button>
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
            {ct("pane.blockFor")}
            <select value={blockHours} onChange={(e) => setBlockHours(e.currentTarget.value)}>
              <option value="1">{ct("pane.hour1")}</option>
              <option value="24">{ct("pane.day1")}</option>
              <option value="168">{ct("pane.week1")}</option>
              <option value="720">{ct("pane.days30")}</option>
            </select>
          </label>
          <label>
            {ct("pane.reason")}
            <input value={reason} maxLength={200} onInput={(e) => setReason(e.currentTarget.value)} />
          </label>
          <button type="submit">{ct("pane.blockSubmit")}</button>
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
            {ct("pane.deviceKey")}
            <input value={member} onInput={(e) => setMember(e.currentTarget.value)} />
          </label>
          <button type="submit">{ct("pane.invite")}</button>
          <button type="button" onClick={() => act(() => staff.removeMember(gid, member))}>
            {ct("pane.remove")}
          </button>
          <p class="muted small">{ct("pane.members", staff.members(gid).map((m) => c.names.get(m) || ct("pane.colleagueUnknown")).join(", "))}</p>
        </form>
      )}
      {c.ended && (
        <button type="button" onClick={() => staff.dismiss(gid)}>
          {ct("pane.dismiss")}
        </button>
      )}
    </section>
  );
}

/** The draft with a canned reply after it. */
export function joinDraft(before: string, text: string): string {
  return before.trim() === "" ? text : `${before} ${text}`;
}
