import { LANGUAGES, LANGUAGE_NAMES, type Language, type Translate } from "../i18n/core";
import { Heading } from "./Heading";

interface Props {
  t: Translate;
  language: Language;
  retentionDays: number;
  /** The neutral tab title the browser's history shows for this site. */
  tabTitle: string;
  onLanguage: (language: Language) => void;
  onAgree: () => void;
  onTracks: () => void;
}

/** The first screen: language, then what this chat is and what it keeps. */
export function Welcome({ t, language, retentionDays, tabTitle, onLanguage, onAgree, onTracks }: Props) {
  return (
    <main>
      <div class="languages" role="group" aria-label={t("language.choose")}>
        {LANGUAGES.map((l) => (
          <button
            key={l}
            type="button"
            lang={l}
            class="language"
            aria-pressed={l === language}
            onClick={() => onLanguage(l)}
          >
            {LANGUAGE_NAMES[l]}
          </button>
        ))}
      </div>
      <Heading>{t("welcome.title")}</Heading>
      <p class="lead">{t("welcome.intro")}</p>
      <h2>{t("consent.title")}</h2>
      <ul class="consent">
        <li>{t("consent.encrypted")}</li>
        <li>{t("consent.kept", retentionDays)}</li>
        <li>
          {t("consent.device", tabTitle)}{" "}
          <button type="button" class="link" onClick={onTracks}>
            {t("tracks.link")}
          </button>
        </li>
        <li>{t("consent.escalation")}</li>
        <li>
          {t("consent.exit")} <span class="keyboard-only">{t("consent.exitKeyboard")}</span>
        </li>
      </ul>
      {/* Stays at the bottom of the screen while the text scrolls: on a small phone
          the way on is in the first screen, not two screens down. */}
      <div class="actions">
        <button type="button" class="primary" onClick={onAgree}>
          {t("consent.agree")}
        </button>
      </div>
    </main>
  );
}
