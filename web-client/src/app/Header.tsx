import type { Translate } from "../i18n";

interface Props {
  t: Translate;
  onExit: () => void;
  onSos: () => void;
}

/** Always on top of every screen: the way out and the way to help. */
export function Header({ t, onExit, onSos }: Props) {
  return (
    <header class="bar">
      <button type="button" class="sos-button" onClick={onSos}>
        {t("sos.button")}
      </button>
      <div class="exit">
        <button type="button" class="exit-button" onClick={onExit}>
          {t("exit.button")}
        </button>
        <span class="exit-hint keyboard-only">{t("exit.hint")}</span>
      </div>
    </header>
  );
}
