import { useEffect, useRef, useState } from "preact/hooks";

import type { Translate } from "../i18n";
import type { FeedbackAnswer, Help } from "../protocol";
import type { VisitorState } from "../visitor/intake";
import type { TeamMessageOutcome } from "../visitor/teamMessage";
import { Conversation, HelpLines } from "./Conversation";
import { Feedback } from "./Feedback";
import { Heading } from "./Heading";
import { OffHours } from "./OffHours";
import { ResumeOffer } from "./Resume";

interface Props {
  t: Translate;
  state: VisitorState;
  onCancel: () => void;
  onBack: () => void;
  onSend: (text: string) => void;
  onTyping?: () => void;
  onRetry: (id: number) => void;
  onTeamMessage: (text: string) => Promise<TeamMessageOutcome>;
  onFeedback: (answer: FeedbackAnswer) => Promise<void>;
  /** The "leave no trace" page. */
  onTracks?: () => void;
}

/**
 * "End the chat" and "Cancel" ask once before acting: one stray tap on a
 * phone must not end a chat she needed. The question takes focus, so a
 * screen reader says it, and "No" puts her back where she was.
 */
function ConfirmLeave({ t, inChat, onYes, onNo }: { t: Translate; inChat: boolean; onYes: () => void; onNo: () => void }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    box.current?.focus({ preventScroll: true });
    box.current?.scrollIntoView?.({ block: "center" });
  }, []);
  return (
    <div class="confirm" role="alertdialog" aria-labelledby="confirm-h" aria-describedby="confirm-p" tabIndex={-1} ref={box}>
      <h2 id="confirm-h">{inChat ? t("confirm.endTitle") : t("confirm.cancelTitle")}</h2>
      <p id="confirm-p">{inChat ? t("confirm.endText") : t("confirm.cancelText")}</p>
      <button type="button" class="primary danger" onClick={onYes}>
        {inChat ? t("confirm.endYes") : t("confirm.cancelYes")}
      </button>
      <button type="button" class="secondary" onClick={onNo}>
        {inChat ? t("confirm.endNo") : t("confirm.cancelNo")}
      </button>
    </div>
  );
}

function CrisisLines({ help, language }: { help: Help; language: string }) {
  return <HelpLines lines={help.crisis_lines} language={language} />;
}

/**
 * The waiting room and the chat: live position and estimate, a place to
 * write first messages (kept in memory, sent when the chat exists), the
 * counsellor with the "verified" badge, and cancel / end. Also the
 * refusals and the lost connection, each with somewhere else to turn.
 */
export function Waiting({ t, state, onCancel, onBack, onSend, onTyping, onRetry, onTeamMessage, onFeedback, onTracks }: Props) {
  const [confirming, setConfirming] = useState(false);
  const leaveButton = useRef<HTMLButtonElement>(null);

  if (state.kind === "refused") {
    const text = state.code === "busy" || state.code === "rate_limited" ? t("refused.busy") : state.code === "intake_closed" ? t("refused.closed") : t("refused.other");
    return (
      <main key="refused">
        <Heading>{text}</Heading>
        {state.help !== undefined && <CrisisLines help={state.help} language={t("language.code")} />}
        {state.code === "intake_closed" && (
          <OffHours
            t={t}
            language={t("language.code")}
            openingHours={state.info?.opening_hours ?? []}
            timeZone={state.info?.time_zone ?? "UTC"}
            nextOpenAt={state.help?.next_open_at}
            onTeamMessage={onTeamMessage}
          />
        )}
        {state.code === "unknown_ticket" && <p>{t("resume.expired")}</p>}
        <button type="button" class="secondary" onClick={onBack}>
          {t("sos.close")}
        </button>
      </main>
    );
  }
  if (state.kind === "offline" || state.kind === "closed") {
    return (
      <main key={state.kind}>
        <Heading>{state.kind === "offline" ? t("error.offline") : t("chat.ended")}</Heading>
        {state.kind === "closed" && (state.reason === "closed" || state.reason === "cancelled") && (
          <Feedback t={t} onAnswer={onFeedback} />
        )}
        {state.kind === "closed" && state.lines.length > 0 && (
          <Conversation t={t} lines={state.lines} onSend={() => {}} onRetry={() => {}} readOnly />
        )}
        {onTracks !== undefined && (
          <button type="button" class="link tracks-link" onClick={onTracks}>
            {t("tracks.link")}
          </button>
        )}
        <button type="button" class="secondary" onClick={onBack}>
          {t("sos.close")}
        </button>
      </main>
    );
  }
  const lines = state.kind === "connecting" ? [] : state.lines;
  return (
    <main key="live" class={state.kind === "in_chat" ? "chat" : "waiting"}>
      {state.kind === "in_chat" ? (
        <div class="counsellor" role="status">
          <Heading>{state.counsellor?.displayName ?? t("chat.counsellor")}</Heading>
          {state.counsellor?.verified === true ? (
            <p class="badge verified" data-verified="true">✓ {t("chat.verified")}</p>
          ) : (
            <p class="badge unverified" data-verified="false">{state.joined ? t("chat.notVerified") : t("chat.joining")}</p>
          )}
        </div>
      ) : (
        <Heading>{t("waiting.title")}</Heading>
      )}
      {state.kind === "waiting" && (
        <div class="queue" role="status" aria-live="polite">
          <p class="position">{t("waiting.position", state.position)}</p>
          {/* With nobody taking chats, a time would be a promise nobody can keep. */}
          {state.nobodyAvailable ? (
            <p class="estimate nobody">{t("waiting.nobodyAvailable")}</p>
          ) : (
            <p class="estimate">{t("waiting.estimate", Math.round(state.estimatedWaitSecs / 60))}</p>
          )}
          <p class="lead">{t("waiting.keepPlace")}</p>
        </div>
      )}
      {state.kind === "connecting" && <p class="lead" role="status">…</p>}
      {(state.kind === "waiting" || state.kind === "in_chat") && state.reconnecting === true && (
        <p class="notice" role="status">
          {t("error.reconnecting")}
        </p>
      )}
      {state.kind !== "in_chat" && <p>{t("waiting.typeWhileWaiting")}</p>}
      <Conversation
        t={t}
        lines={lines}
        onSend={onSend}
        onTyping={onTyping}
        onRetry={onRetry}
        typing={state.kind === "in_chat" && state.counsellorTyping === true}
      />
      {(state.kind === "waiting" || state.kind === "in_chat") && (
        <ResumeOffer t={t} secret={state.ticket.resume_secret} graceSecs={state.ticket.resume_grace_secs} />
      )}
      {confirming ? (
        <ConfirmLeave
          t={t}
          inChat={state.kind === "in_chat"}
          onYes={() => {
            setConfirming(false);
            onCancel();
          }}
          onNo={() => {
            setConfirming(false);
            setTimeout(() => leaveButton.current?.focus(), 0);
          }}
        />
      ) : (
        <button type="button" class="secondary" ref={leaveButton} onClick={() => setConfirming(true)}>
          {state.kind === "in_chat" ? t("chat.leave") : t("waiting.cancel")}
        </button>
      )}
    </main>
  );
}
