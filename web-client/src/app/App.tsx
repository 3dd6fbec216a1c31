import { useEffect, useMemo, useState } from "preact/hooks";

import { config } from "../config";
import { type Language, translator } from "../i18n";
import { Header } from "./Header";
import { Sos } from "./Sos";
import { type ChatRequest, StartChat } from "./StartChat";
import { Welcome } from "./Welcome";

type Screen = "welcome" | "start";

interface Props {
  initialLanguage: Language;
  onExit: () => void;
  /** Undefined while the server offers no intake: the start button is then disabled. */
  onStart?: (request: ChatRequest) => void;
}

/** The visitor's page. All state is here, in memory; nothing is stored. */
export function App({ initialLanguage, onExit, onStart }: Props) {
  const [language, setLanguage] = useState<Language>(initialLanguage);
  const [screen, setScreen] = useState<Screen>("welcome");
  const [sosOpen, setSosOpen] = useState(false);
  const t = useMemo(() => translator(language), [language]);

  useEffect(() => {
    document.documentElement.lang = language;
  }, [language]);

  return (
    <>
      <Header t={t} onExit={onExit} onSos={() => setSosOpen(true)} />
      {sosOpen ? (
        <Sos t={t} numbers={config.crisisNumbers} onClose={() => setSosOpen(false)} />
      ) : screen === "welcome" ? (
        <Welcome
          t={t}
          language={language}
          retentionDays={config.retentionDays}
          onLanguage={setLanguage}
          onAgree={() => setScreen("start")}
        />
      ) : (
        <StartChat t={t} available={onStart !== undefined} onStart={(r) => onStart?.(r)} />
      )}
    </>
  );
}
