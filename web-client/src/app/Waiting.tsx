import { useState } from "preact/hooks";

import type { Translate } from "../i18n";
import type { Help } from "../protocol";
import type { VisitorState } from "../visitor/intake";
import { Heading } from "./Heading";

interface Props {
  t: Translate;
  state: VisitorState;
  onCancel: () => void;
  onBack: () => void;
}

function CrisisLines({ help }: { help: Help }) {
  return (
    <ul class="numbers">
      {help.crisis_lines.map((line) => (
        <li key={line.number}>
          <a class="call" href={`tel:${line.number.replace(/\s+/g, "")}`}>
            <span class="number">{line.number}</span>
            <span class="label">
              {line.name} · {line.hours}
            </span>
          </a>
        </li>
      ))}
    </ul>
  );
}

/**
 * The waiting room: live position and estimate, a place to write first
 * messages (kept in memory, sent when the chat exists), and cancel. Also the
 * refusals and the lost connection, each with somewhere else to turn.
 */
export function Waiting({ t, state, onCancel, onBack }: Props) {
  const [draft, setDraft] = useState("");
  const [queued, setQueued] = useState<string[]>([]);

  if (state.kind === "refused") {
    const text = state.code === "busy" || state.code === "rate_limited" ? t("refused.busy") : state.code === "intake_closed" ? t("refused.closed") : t("refused.other");
    return (
      <main>
        <Heading>{text}</Heading>
        {state.help !== undefined && <CrisisLines help={state.help} />}
        <button type="button" class="secondary" onClick={onBack}>
          {t("sos.close")}
        </button>
      </main>
    );
  }
  if (state.kind === "offline" || state.kind === "closed") {
    return (
      <main>
        <Heading>{state.kind === "offline" ? t("error.offline") : t("chat.ended")}</Heading>
        <button type="button" class="secondary" onClick={onBack}>
          {t("sos.close")}
        </button>
      </main>
    );
  }
  return (
    <main>
      <Heading>{state.kind === "in_chat" ? t("chat.counsellorJoined") : t("waiting.title")}</Heading>
      {state.kind === "waiting" && (
        <div class="queue" role="status" aria-live="polite">
          <p class="position">{t("waiting.position", state.position)}</p>
          <p class="estimate">{t("waiting.estimate", Math.round(state.estimatedWaitSecs / 60))}</p>
          <p class="lead">{t("waiting.keepPlace")}</p>
        </div>
      )}
      {state.kind === "connecting" && <p class="lead" role="status">…</p>}
      <p>{t("waiting.typeWhileWaiting")}</p>
      {queued.length > 0 && (
        <ul class="queued">
          {queued.map((m, i) => (
            <li key={i}>
              <span>{m}</span>
              <small>{t("waiting.queued")}</small>
            </li>
          ))}
        </ul>
      )}
      <form
        class="composer"
        onSubmit={(e) => {
          e.preventDefault();
          const text = draft.trim();
          if (text) setQueued([...queued, text]);
          setDraft("");
        }}
      >
        <label class="visually-hidden" for="draft">
          {t("chat.placeholder")}
        </label>
        <textarea
          id="draft"
          rows={2}
          placeholder={t("chat.placeholder")}
          value={draft}
          onInput={(e) => setDraft(e.currentTarget.value)}
        />
        <button type="submit" class="send">
          {t("chat.send")}
        </button>
      </form>
      <button type="button" class="secondary" onClick={onCancel}>
        {t("waiting.cancel")}
      </button>
    </main>
  );
}
