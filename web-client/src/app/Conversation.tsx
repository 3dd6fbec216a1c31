import { useEffect, useRef, useState } from "preact/hooks";

import type { Translate } from "../i18n";
import type { CrisisLine } from "../protocol";
import type { ChatLine, Delivery, SystemEvent } from "../visitor/chat";
import { crisisLineName } from "../visitor/crisisLines";

interface Props {
  t: Translate;
  lines: ChatLine[];
  onSend: (text: string) => void;
  /** She is writing: a typing signal goes to the counsellor. */
  onTyping?: (() => void) | undefined;
  onRetry: (id: number) => void;
  /** The other side is writing now. */
  typing?: boolean;
  /** The chat is over: show the lines, no box to write in. */
  readOnly?: boolean;
}

function deliveryText(t: Translate, delivery: Delivery): string {
  switch (delivery) {
    case "queued":
      return t("waiting.queued");
    case "sending":
      return t("chat.sending");
    case "sent":
      return t("chat.sent");
    case "failed":
      return t("chat.failed");
  }
}

function systemText(t: Translate, event: SystemEvent, name: string | undefined): string {
  switch (event) {
    case "counsellor_joined":
      return t("chat.counsellorJoined");
    case "transferred":
      return t("chat.transfer");
    case "rescued":
      return t("chat.rescued");
    case "new_counsellor_joined":
      return t("chat.newCounsellor", name ?? t("chat.counsellor"));
    case "previous_counsellor_left":
      return t("chat.previousLeft");
    case "counsellor_reconnected":
      return t("chat.counsellorReconnected");
    case "crisis_joined":
      return t("chat.crisisJoined");
    case "crisis_fallback":
      return t("chat.crisisFallback");
    case "unverified_member":
      return t("chat.unverifiedMember");
    case "sos_alerted":
      return t("chat.sosAlerted");
    case "sos_urgent":
      return t("chat.sosUrgent");
    case "ended":
      return t("chat.ended");
    case "circle_joined":
      return t("circle.joined");
    case "circle_muted":
      return t("circle.muted");
    case "circle_ended":
      return t("circle.ended");
  }
}

/** Numbers to call, one tap each (the escalation's fallback lines), named in the page's language. */
export function HelpLines({ lines, language }: { lines: CrisisLine[]; language: string }) {
  return (
    <ul class="numbers">
      {lines.map((line) => (
        <li key={line.number}>
          <a class="call" href={`tel:${line.number.replace(/\s+/g, "")}`}>
            <span class="number">{line.number}</span>
            <span class="label">
              {crisisLineName(line, language)} · {line.hours}
            </span>
          </a>
        </li>
      ))}
    </ul>
  );
}

/** The lines of a chat (a live log for screen readers) and the box to write in. */
export function Conversation({ t, lines, onSend, onTyping, onRetry, typing = false, readOnly = false }: Props) {
  const [draft, setDraft] = useState("");
  const end = useRef<HTMLLIElement>(null);
  useEffect(() => end.current?.scrollIntoView?.({ block: "end" }), [lines.length]);
  return (
    <>
      {/* The live region is a wrapper: role="log" on the <ol> itself would
          take away its list role, and its <li> items would be orphans. */}
      <div role="log" aria-live="polite" aria-label={t("chat.log")}>
      <ol class="lines">
        {lines.map((line) =>
          line.kind === "system" ? (
            <li key={line.id} class="line system">
              {systemText(t, line.event, line.name)}
              {line.numbers !== undefined && <HelpLines lines={line.numbers} language={t("language.code")} />}
            </li>
          ) : line.kind === "mine" ? (
            <li key={line.id} class="line mine" data-delivery={line.delivery}>
              <span class="visually-hidden">{t("chat.you")}: </span>
              <span class="text">{line.text}</span>
              {line.delivery === "failed" ? (
                <button type="button" class="delivery failed" onClick={() => onRetry(line.id)}>
                  {deliveryText(t, line.delivery)}
                </button>
              ) : (
                <small class="delivery">{deliveryText(t, line.delivery)}</small>
              )}
            </li>
          ) : (
            <li key={line.id} class="line theirs">
              <small class="from">
                {line.from || t("chat.counsellor")}
                {line.verified && <span class="verified"> ✓ {t("chat.verified")}</span>}
              </small>
              <span class="text">{line.text}</span>
            </li>
          ),
        )}
        <li ref={end} aria-hidden="true" class="end" />
      </ol>
      </div>
      {!readOnly && typing && (
        <p class="typing" aria-live="polite">
          {t("chat.counsellorTyping")}
        </p>
      )}
      {!readOnly && (
        <form
          class="composer"
          onSubmit={(e) => {
            e.preventDefault();
            const text = draft.trim();
            if (text) onSend(text);
            setDraft("");
          }}
        >
          <label class="visually-hidden" for="draft">
            {t("chat.placeholder")}
          </label>
          <textarea
            id="draft"
            rows={2}
            maxLength={4000}
            placeholder={t("chat.placeholder")}
            value={draft}
            onInput={(e) => {
              setDraft(e.currentTarget.value);
              if (e.currentTarget.value.trim() !== "") onTyping?.();
            }}
            onKeyDown={(e) => {
              // Enter sends; Shift+Enter is a new line.
              if (e.key === "Enter" && !e.shiftKey) {
                e.preventDefault();
                e.currentTarget.form?.requestSubmit();
              }
            }}
          />
          <button type="submit" class="send">
            {t("chat.send")}
          </button>
        </form>
      )}
    </>
  );
}
