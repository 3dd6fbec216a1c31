import { useEffect, useRef, useState } from "preact/hooks";

import type { Translate } from "../i18n";
import type { FeedbackAnswer } from "../protocol";

const ANSWERS: readonly FeedbackAnswer[] = ["helped", "somewhat", "not_helped"];

/** After a closed chat: one question, one tap, counted anonymously (PROTOCOL.md, "Feedback"). */
export function Feedback({ t, onAnswer }: { t: Translate; onAnswer: (answer: FeedbackAnswer) => Promise<void> }) {
  const [state, setState] = useState<"asking" | "sending" | "done">("asking");
  const thanks = useRef<HTMLParagraphElement>(null);
  // The thank-you replaces the buttons she tapped: bring it into view and
  // give it focus, so she sees (and hears) that the answer arrived.
  useEffect(() => {
    if (state !== "done") return;
    thanks.current?.focus({ preventScroll: true });
    thanks.current?.scrollIntoView?.({ block: "center" });
  }, [state]);
  if (state === "done") {
    return (
      <p class="notice" role="status" tabIndex={-1} ref={thanks}>
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
