import { useEffect, useMemo, useState } from "preact/hooks";

import { config } from "../config";
import { type Language, loadedCatalogue, translatorOf } from "../i18n/core";
import type { ChatLine } from "../visitor/chat";
import type { CircleLine, CircleState } from "../visitor/circle";
import { Conversation } from "./Conversation";
import { Header } from "./Header";
import { Heading } from "./Heading";
import { Sos } from "./Sos";

/** What the circle page asks of the outside. */
export interface CircleActions {
  /** Open the invitation with the code she typed. */
  open(code: string): void;
  /** Back to typing the code (after a refused one). */
  askAgain(): void;
  join(name: string): void;
  send(text: string): void;
  leave(): void;
}

interface Props {
  initialLanguage: Language;
  state: CircleState | { kind: "ask_code" };
  actions: CircleActions;
  onExit: () => void;
}

function chatLines(lines: CircleLine[]): ChatLine[] {
  return lines.map((l): ChatLine => {
    switch (l.kind) {
      case "mine":
        return l;
      case "theirs":
        return { kind: "theirs", id: l.id, text: l.text, from: l.from || "–", verified: false };
      case "system":
        return { kind: "system", id: l.id, event: `circle_${l.event}` };
    }
  });
}

/** The invitation's landing page, the name prompt, the wait, and the circle's chat. */
export function CirclePage({ initialLanguage, state, actions, onExit }: Props) {
  const [language] = useState<Language>(initialLanguage);
  const [name, setName] = useState("");
  const [code, setCode] = useState("");
  const [sosOpen, setSosOpen] = useState(false);
  const t = useMemo(() => translatorOf(loadedCatalogue(language) ?? loadedCatalogue("en")!), [language]);
  useEffect(() => {
    document.documentElement.lang = language;
  }, [language]);

  const refusal = (code: string) =>
    code === "invitation_expired"
      ? t("circle.expired")
      : code === "invitation_used_up"
        ? t("circle.usedUp")
        : code === "invitation_revoked"
          ? t("circle.revoked")
          : code === "unknown_invitation"
            ? t("circle.unknown")
            : t("circle.error");

  return (
    <>
      <Header t={t} onExit={onExit} onSos={() => setSosOpen(true)} />
      {sosOpen && <Sos t={t} numbers={config.crisisNumbers} serverLines={undefined} language={language} onClose={() => setSosOpen(false)} />}
      <main class="screen circle" hidden={sosOpen}>
        {state.kind === "ask_code" && (
          <form
            class="circle-join"
            onSubmit={(e) => {
              e.preventDefault();
              const typed = code.replace(/[\s-]+/g, "").toUpperCase();
              if (typed.length >= 12) actions.open(typed);
            }}
          >
            <Heading>{t("circle.codeTitle")}</Heading>
            <p>{t("circle.codeExplain")}</p>
            <label for="circle-code">{t("circle.code")}</label>
            <input
              id="circle-code"
              class="code-input"
              maxLength={24}
              autoComplete="off"
              autoCapitalize="characters"
              spellcheck={false}
              value={code}
              onInput={(e) => setCode(e.currentTarget.value)}
            />
            <button type="submit" class="primary" disabled={code.replace(/[\s-]+/g, "").length < 12}>
              {t("circle.codeOpen")}
            </button>
          </form>
        )}
        {state.kind === "loading" && <p class="status">…</p>}
        {state.kind === "offline" && <p class="status" role="alert">{t("error.offline")}</p>}
        {state.kind === "refused" && (
          <>
            <p class="status" role="alert">
              {refusal(state.code)}
            </p>
            <button type="button" class="secondary" onClick={actions.askAgain}>
              {t("circle.codeAgain")}
            </button>
          </>
        )}
        {state.kind === "preview" && (
          <form
            class="circle-join"
            onSubmit={(e) => {
              e.preventDefault();
              if (name.trim() !== "") actions.join(name.trim());
            }}
          >
            <p>{t("circle.invited")}</p>
            <h1>{state.preview.name}</h1>
            <p>{t("circle.topic", state.preview.topic)}</p>
            <p class="note">{t("circle.private")}</p>
            <label for="circle-name">{t("circle.name")}</label>
            <input
              id="circle-name"
              maxLength={40}
              autoComplete="off"
              value={name}
              onInput={(e) => setName(e.currentTarget.value)}
            />
            <small>{t("circle.nameHint")}</small>
            <button type="submit" class="primary" disabled={name.trim() === ""}>
              {t("circle.join")}
            </button>
          </form>
        )}
        {state.kind === "waiting" && (
          <section>
            <h1>{state.preview.name}</h1>
            <p class="status" role="status">
              {t("circle.waiting")}
            </p>
          </section>
        )}
        {state.kind === "in_circle" && (
          <section class="chat">
            <h1>{state.preview.name}</h1>
            <p class="note">{t("circle.history")}</p>
            <Conversation t={t} lines={chatLines(state.lines)} onSend={actions.send} onRetry={() => undefined} />
            <button type="button" class="secondary" onClick={actions.leave}>
              {t("circle.leave")}
            </button>
          </section>
        )}
        {state.kind === "ended" && (
          <section class="chat">
            <Conversation t={t} lines={chatLines(state.lines)} onSend={() => undefined} onRetry={() => undefined} readOnly />
          </section>
        )}
        {state.kind === "left" && (
          <p class="status" role="status">
            {t("circle.left")}
          </p>
        )}
      </main>
    </>
  );
}
