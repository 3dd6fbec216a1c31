// The counsellor's one list: offers, waiting tickets and conversations,
// each ticket once, whoever waits longest on top. Each row says the topic
// and language in words, how long the visitor has waited or when she last
// wrote, the last message (page memory only) and what is unread.

import { ct } from "../i18n/console";
import { hex } from "../util/hex";
import { conversationTitle, lastMessage, ticketSummary } from "./labels";
import { presenceLabel } from "./presence";
import type { StaffConsole } from "./staff";
import { type Act, minutes } from "./ui";
import type { WorkItem } from "./worklist";

/** Longest preview shown in a row; the rest is in the conversation. */
const PREVIEW_CHARS = 80;

interface Props {
  items: WorkItem[];
  staff: StaffConsole;
  act: Act;
  queueDepth: number;
  now: number;
}

export function WorkList({ items, staff, act, queueDepth, now }: Props) {
  const waiting = items.filter((i) => i.kind !== "conversation").length;
  return (
    <section aria-labelledby="work-h" class="work">
      <h2 id="work-h">
        {ct("work.heading")} <small class="muted">· {Math.max(waiting, queueDepth) === 0 ? ct("work.nobodyWaiting") : ct("work.waitingCount", Math.max(waiting, queueDepth))}</small>
      </h2>
      {items.length === 0 && <p class="muted">{ct("work.empty")}</p>}
      <ul class="work-list">
        {items.map((item) => (
          <li key={item.key} class={`work-item ${item.kind}${item.urgent ? " urgent" : ""}`}>
            {item.kind === "conversation" ? (
              <ConversationRow item={item} staff={staff} now={now} />
            ) : (
              <TicketRow item={item} staff={staff} act={act} now={now} />
            )}
          </li>
        ))}
      </ul>
    </section>
  );
}

function TicketRow({ item, staff, act, now }: { item: Extract<WorkItem, { kind: "offer" | "waiting" }>; staff: StaffConsole; act: Act; now: number }) {
  const t = item.ticket;
  const take = () => act(async () => staff.open((await staff.accept(t.ticket_id)).groupId));
  return (
    <div class={item.kind === "offer" ? "offer" : "queue-ticket"}>
      <p class="row-head">
        {t.urgent && <strong class="urgent-tag">{ct("work.urgent")} · </strong>}
        <strong>{ticketSummary(t)}</strong>
      </p>
      <p class="row-meta">
        <span class="kind">{item.kind === "offer" ? ct("work.offered") : ct("work.inQueue")}</span> ·{" "}
        {ct("work.waited", minutes(Math.round((now - item.waitingSince) / 1000)))}
        {t.handover && ` · ${ct("work.handover")}`}
      </p>
      <div class="row-actions">
        {item.kind === "offer" ? (
          <>
            <button type="button" class="accept primary" onClick={take}>
              {ct("work.accept")}
            </button>
            <button type="button" onClick={() => act(() => staff.declineOffer(t.ticket_id))}>
              {ct("work.decline")}
            </button>
          </>
        ) : (
          <button type="button" class="accept" onClick={take}>
            {ct("work.take")}
          </button>
        )}
      </div>
    </div>
  );
}

function ConversationRow({ item, staff, now }: { item: Extract<WorkItem, { kind: "conversation" }>; staff: StaffConsole; now: number }) {
  const c = item.conversation;
  const preview = lastMessage(c);
  const presence = c.ended ? undefined : presenceLabel(c.presence);
  const text = preview === undefined ? undefined : preview.text.length > PREVIEW_CHARS ? `${preview.text.slice(0, PREVIEW_CHARS)}…` : preview.text;
  return (
    <button
      type="button"
      class="conversation"
      aria-current={hex(c.groupId) === staff.activeGroup ? "true" : undefined}
      onClick={() => staff.open(c.groupId)}
    >
      <span class="row-head">
        {c.sosAlert === true && !c.ended && <strong class="urgent-tag">{ct("work.sos")} </strong>}
        {c.sosAlert !== true && c.ticket?.urgent === true && !c.ended && <strong class="urgent-tag">{ct("work.urgent")} </strong>}
        <span class="title">{conversationTitle(c)}</span>
        {c.unread > 0 && (
          <span class="unread" aria-label={ct("work.unread", c.unread)}>
            {c.unread}
          </span>
        )}
      </span>
      <span class="preview">
        {text === undefined ? (
          <em class="muted">{ct("work.noPreview")}</em>
        ) : (
          <>
            {preview?.mine === true && <span class="muted">{ct("work.you")}: </span>}
            {text}
          </>
        )}
      </span>
      <span class="row-meta">
        {c.ended && ct("work.ended")}
        {!c.ended && c.lastTheirsAt !== undefined && (
          <span class={item.waitingSince !== undefined ? "waiting" : undefined}>
            {ct("work.wrote", minutes(Math.round((now - c.lastTheirsAt) / 1000)))}
            {item.waitingSince === undefined && ` · ${ct("work.answered")}`}
          </span>
        )}
        {presence !== undefined && <em class="presence"> · {presence}</em>}
      </span>
    </button>
  );
}
