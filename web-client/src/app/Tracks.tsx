import type { Translate } from "../i18n";
import { Heading } from "./Heading";

/** "Leave no trace": what the browser keeps of this site and how to remove it. */
export function Tracks({ t, tabTitle, onBack }: { t: Translate; tabTitle: string; onBack: () => void }) {
  return (
    <main class="tracks">
      <Heading>{t("tracks.title")}</Heading>
      <p>{t("tracks.intro")}</p>
      <h2>{t("tracks.historyTitle")}</h2>
      <ul class="steps">
        <li>{t("tracks.chrome", tabTitle)}</li>
        <li>{t("tracks.samsung", tabTitle)}</li>
        <li>{t("tracks.safari", tabTitle)}</li>
        <li>{t("tracks.firefox", tabTitle)}</li>
      </ul>
      <h2>{t("tracks.privateTitle")}</h2>
      <p>{t("tracks.private")}</p>
      <p class="notice">{t("tracks.exit")}</p>
      <div class="actions">
        <button type="button" class="secondary" onClick={onBack}>
          {t("tracks.back")}
        </button>
      </div>
    </main>
  );
}
