import { useEffect, useMemo, useState } from "preact/hooks";

import { config } from "../config";
import { type Language, loadCatalogue, loadedCatalogue, translatorOf } from "../i18n/core";
import { Header } from "./Header";
import { Sos } from "./Sos";
import { type ChatRequest, StartChat } from "./StartChat";
import { Waiting } from "./Waiting";
import { Tracks } from "./Tracks";
import { Welcome } from "./Welcome";
import type { CrisisLine, FeedbackAnswer, Help } from "../protocol";
import type { VisitorState } from "../visitor/intake";
import type { TeamMessageOutcome } from "../visitor/teamMessage";

type Screen = "welcome" | "start" | "waiting" | "tracks";

/** What the app asks of the outside: the intake, once the visitor starts. */
export interface Intake {
  start(request: ChatRequest & { language: Language }, onState: (state: VisitorState) => void): void;
  cancel(): void;
  send(text: string): void;
  /** The visitor is writing (the counsellor sees "typing"). */
  typing?(): void;
  retry(id: number): void;
  /** Come back to a chat with a written-down resume code. */
  resume(secret: Uint8Array, onState: (state: VisitorState) => void): void;
  /** Outside opening hours: seal a message to the team. */
  leaveTeamMessage(text: string): Promise<TeamMessageOutcome>;
  /** "I'm in danger now": tell the server (urgent ticket, counsellor alerted); its numbers, if connected. */
  sos(): Promise<Help | undefined>;
  /** After a closed chat: the anonymous feedback answer. */
  feedback(answer: FeedbackAnswer): Promise<void>;
}

interface Props {
  initialLanguage: Language;
  onExit: () => void;
  /** Undefined where no server is reachable: the start button is then disabled. */
  intake?: Intake;
}

/** The visitor's page. All state is here, in memory; nothing is stored. */
export function App({ initialLanguage, onExit, intake }: Props) {
  const [language, setLanguage] = useState<Language>(initialLanguage);
  const [screen, setScreen] = useState<Screen>("welcome");
  /** Where "Back" on the "leave no trace" page returns to. */
  const [tracksFrom, setTracksFrom] = useState<Screen>("welcome");
  const openTracks = (from: Screen) => {
    setTracksFrom(from);
    setScreen("tracks");
  };
  const [visitor, setVisitor] = useState<VisitorState>({ kind: "connecting" });
  const [sosOpen, setSosOpen] = useState(false);
  const [sosLines, setSosLines] = useState<CrisisLine[] | undefined>(undefined);
  // main.tsx fetched the first language's catalogue before the first render;
  // another is fetched when chosen, and shown once it is here.
  const t = useMemo(() => translatorOf(loadedCatalogue(language) ?? loadedCatalogue("en")!), [language]);
  const chooseLanguage = (l: Language) => void loadCatalogue(l).then(() => setLanguage(l));

  useEffect(() => {
    document.documentElement.lang = language;
  }, [language]);

  return (
    <>
      <Header
        t={t}
        onExit={onExit}
        onSos={() => {
          // The page's numbers show at once; the server's answer adds its lines when it comes.
          setSosOpen(true);
          intake
            ?.sos()
            .then((help) => help !== undefined && setSosLines(help.crisis_lines))
            .catch(() => undefined);
        }}
      />
      {sosOpen && (
        <Sos
          t={t}
          numbers={config.crisisNumbers}
          serverLines={sosLines}
          language={language}
          onClose={() => {
            setSosOpen(false);
            // Back where they were: the screen below stayed mounted (draft, scroll, chat).
            setTimeout(() => document.querySelector<HTMLElement>(".sos-button")?.focus(), 0);
          }}
        />
      )}
      <div class="screen" hidden={sosOpen}>
        {screen === "welcome" ? (
          <Welcome
            t={t}
            language={language}
            retentionDays={config.retentionDays}
            tabTitle={config.tabTitle}
            onLanguage={chooseLanguage}
            onAgree={() => setScreen("start")}
            onTracks={() => openTracks("welcome")}
          />
        ) : screen === "tracks" ? (
          <Tracks t={t} tabTitle={config.tabTitle} onBack={() => setScreen(tracksFrom)} />
        ) : screen === "start" ? (
          <StartChat
            t={t}
            available={intake !== undefined}
            onStart={(request) => {
              setVisitor({ kind: "connecting" });
              setScreen("waiting");
              intake?.start({ ...request, language }, setVisitor);
            }}
            onResume={(secret) => {
              setVisitor({ kind: "connecting" });
              setScreen("waiting");
              intake?.resume(secret, setVisitor);
            }}
          />
        ) : (
          <Waiting
            t={t}
            state={visitor}
            onCancel={() => intake?.cancel()}
            onBack={() => setScreen("start")}
            onSend={(text) => intake?.send(text)}
            onTyping={() => intake?.typing?.()}
            onRetry={(id) => intake?.retry(id)}
            onTeamMessage={(text) => intake?.leaveTeamMessage(text) ?? Promise.reject(new Error("no intake"))}
            onTracks={() => openTracks("waiting")}
            onFeedback={(answer) => intake?.feedback(answer) ?? Promise.reject(new Error("no intake"))}
          />
        )}
      </div>
    </>
  );
}
