import { LANGUAGES, LANGUAGE_NAMES, type Language, type Translate } from "../i18n";
import { Heading } from "./Heading";

interface Props {
  t: Translate;
  language: Language;
  retentionDays: number;
  onLanguage: (language: Language) => void;
  onAgree: () => void;
}

/** The first screen: language, then what this chat is and what it keeps. */
export function Welcome({ t, language, retentionDays, onLanguage, onAgree }: Props) {
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
        <li>{t("consent.device")}</li>
        <li>{t("consent.escalation")}</li>
        <li>{t("consent.exit")}</li>
      </ul>
      <button type="button" class="primary" onClick={onAgree}>
        {t("consent.agree")}
      </button>
    </main>
  );
}
