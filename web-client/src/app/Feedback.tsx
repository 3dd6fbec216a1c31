import { useState } from "preact/hooks";

import type { Translate } from "../i18n";
import type { FeedbackAnswer } from "../protocol";

const ANSWERS: readonly FeedbackAnswer[] = ["helped", "somewhat", "not_helped"];

/** After a closed chat: one question, one tap, counted anonymously (PROTOCOL.md, "Feedback"). */
export function Feedback({ t, onAnswer }: { t: Translate; onAnswer: (answer: FeedbackAnswer) => Promise<void> }) {
  const [state, setState] = useState<"asking" | "sending" | "done">("asking");
  if (state === "done") {
    return (
      <p class="notice" role="status">
        {t("feedback.thanks")}
      </p>
    );
  }
  return (
    <fieldset class="feedback">
      <legend>{t("feedback.question")}</legend>
      <p class="lead">{t("feedback.anonymous")}</p>
      <div class="answers">
        {ANSWERS.map((answer) => (
          <button
            key={answer}
            type="button"
            class="secondary"
            disabled={state === "sending"}
            onClick={() => {
              setState("sending");
              // Whatever the outcome, the question is not asked again.
              onAnswer(answer).finally(() => setState("done"));
            }}
          >
            {t(`feedback.${answer}`)}
          </button>
        ))}
      </div>
    </fieldset>
  );
}
