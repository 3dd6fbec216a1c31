// One conversation on screen: its lines, the composer (with canned
// replies), and what can be done with it: transfer, close, block, escalate,
// invite or remove a peer, leave, dismiss.

import { useEffect, useRef, useState } from "preact/hooks";

import { equalBytes } from "../mls/identity";
import { CATEGORIES, type Category, SEVERITIES, type Severity } from "../protocol";
import { hex } from "../util/hex";
import { cannedFor } from "./canned";
import { CATEGORY_LABELS, SEVERITY_LABELS, escalationStatusText } from "./escalations";
import { presenceLabel } from "./presence";
import type { Conversation, StaffConsole } from "./staff";
import type { Act } from "./ui";

interface PaneProps {
  staff: StaffConsole;
  conversation: Conversation;
  closingTags: string[];
  act: Act;
}

export function ConversationPane({ staff, conversation: c, closingTags, act }: PaneProps) {
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
