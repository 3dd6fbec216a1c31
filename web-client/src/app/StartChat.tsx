import { useState } from "preact/hooks";

import type { Translate } from "../i18n";
import { Heading } from "./Heading";
import { ResumeForm } from "./Resume";

export const TOPICS = ["violence", "trafficking", "health", "police_legal", "just_talk"] as const;
export type Topic = (typeof TOPICS)[number];

export interface ChatRequest {
  topic?: Topic;
  urgent: boolean;
}

interface Props {
  t: Translate;
  /** Whether a chat can be started (the server's intake is reachable). */
  available: boolean;
  onStart: (request: ChatRequest) => void;
  onResume: (secret: Uint8Array) => void;
}

/** One tap to start; topic and urgency are optional. */
export function StartChat({ t, available, onStart, onResume }: Props) {
  const [topic, setTopic] = useState<Topic | undefined>(undefined);
  const [urgent, setUrgent] = useState(false);
  return (
    <main>
      <Heading>{t("topic.title")}</Heading>
      <fieldset class="topics">
        <legend>{t("topic.optional")}</legend>
        {TOPICS.map((name) => (
          <label key={name} class="choice">
            <input
              type="radio"
              name="topic"
              value={name}
              checked={topic === name}
              onChange={() => setTopic(name)}
            />
            <span>{t(`topic.${name}`)}</span>
          </label>
        ))}
      </fieldset>
      <label class="choice urgent">
        <input type="checkbox" checked={urgent} onChange={(e) => setUrgent(e.currentTarget.checked)} />
        <span>
          <strong>{t("urgent.label")}</strong>
          <small id="urgent-hint">{t("urgent.hint")}</small>
        </span>
      </label>
      <div class="actions">
        <button
          type="button"
          class="primary"
          disabled={!available}
          aria-describedby={available ? undefined : "start-unavailable"}
          onClick={() => onStart(topic === undefined ? { urgent } : { topic, urgent })}
        >
          {t("start.button")}
        </button>
      </div>
      {!available && (
        <p id="start-unavailable" class="notice" role="status">
          {t("start.unavailable")}
        </p>
      )}
      {available && <ResumeForm t={t} onResume={onResume} />}
    </main>
  );
}
