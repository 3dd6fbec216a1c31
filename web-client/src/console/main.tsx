import { render } from "preact";
import { useEffect, useState } from "preact/hooks";

import {
  type Language,
  consoleLanguage,
  ct,
  initialConsoleLanguage,
  loadDeploymentLabels,
  pickConsoleLanguage,
  setConsoleLanguage,
} from "../i18n/console";
import { serverUrl } from "../net/connection";
import { CLOSE } from "../protocol";
import { ConsoleScreen, LanguagePicker } from "./Console";
import { ticketSummary } from "./labels";
import { DesktopNotifier, TitleCounter } from "./notify";
import { type ConsoleState, LoginError, type Offer, StaffConsole, login } from "./staff";
import { Vault } from "./vault";
import "../styles.css";
import "./console.css";

/** The language the console starts in: the counsellor's last pick on this computer, else the browser's. */
function storage(): Storage | undefined {
  try {
    return window.localStorage;
  } catch {
    return undefined;
  }
}
setConsoleLanguage(initialConsoleLanguage(storage(), navigator.languages ?? [navigator.language]));

const titleCounter = new TitleCounter(document);
const notifier = new DesktopNotifier();

/** A short two-tone chime from WebAudio: no sound file to fetch. */
function chime(): void {
  try {
    const ctx = new AudioContext();
    for (const [i, freq] of [880, 660].entries()) {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.15, ctx.currentTime + i * 0.18);
      gain.gain.exponentialRampToValueAtTime(0.001, ctx.currentTime + i * 0.18 + 0.16);
      osc.connect(gain).connect(ctx.destination);
      osc.start(ctx.currentTime + i * 0.18);
      osc.stop(ctx.currentTime + i * 0.18 + 0.17);
    }
    setTimeout(() => void ctx.close(), 600);
  } catch {
    // No audio (autoplay policy): the title still says it.
  }
}

function LoginForm({
  onLoggedIn,
  notice,
  onLanguage,
}: {
  onLoggedIn: (c: StaffConsole) => void;
  notice?: string | undefined;
  onLanguage: (language: Language) => void;
}) {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [totp, setTotp] = useState("");
  const [error, setError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  return (
    <main class="login">
      <h1>{ct("app.title")}</h1>
      <LanguagePicker onLanguage={onLanguage} />
      <form
        onSubmit={(e) => {
          e.preventDefault();
          setBusy(true);
          setError(undefined);
          const typed = password;
          login(username, typed, totp || undefined)
            .then(async (answer) => {
              setPassword("");
              // The sealed state of this account: key, chats and their history.
              const vault = await Vault.open(answer.token, answer.account_id, typed).catch((e: unknown) => {
                console.warn("staff vault unavailable; chats live in this page only", (e as Error).message);
                return undefined;
              });
              if (vault !== undefined) console.info(`vault key derived in ${vault.deriveMs} ms`);
              const openSocket = () => new WebSocket(serverUrl(location));
              return StaffConsole.connect(openSocket(), answer.token, handlers, openSocket, vault);
            })
            .then(onLoggedIn)
            .catch((e: unknown) => {
              setError(
                e instanceof LoginError
                  ? e.code === "invalid_credentials"
                    ? ct("login.wrong")
                    : e.code === "too_many_attempts"
                      ? ct("login.tooMany", e.retryAfterSecs ?? 60)
                      : e.code === "busy"
                        ? ct("login.busy")
                        : ct("login.failed", e.code)
                  : ct("login.noServer"),
              );
            })
            .finally(() => setBusy(false));
        }}
      >
        <label>
          {ct("login.username")}
          <input name="username" autoComplete="username" required value={username} onInput={(e) => setUsername(e.currentTarget.value)} />
        </label>
        <label>
          {ct("login.password")}
          <input
            name="password"
            type="password"
            autoComplete="current-password"
            required
            value={password}
            onInput={(e) => setPassword(e.currentTarget.value)}
          />
        </label>
        <label>
          {ct("login.totp")}
          <input name="totp" inputMode="numeric" autoComplete="one-time-code" value={totp} onInput={(e) => setTotp(e.currentTarget.value)} />
        </label>
        {notice !== undefined && error === undefined && (
          <p class="notice" role="status">
            {notice}
          </p>
        )}
        {error !== undefined && <p role="alert">{error}</p>}
        <button type="submit" class="primary" disabled={busy}>
          {ct("login.submit")}
        </button>
      </form>
    </main>
  );
}

let setStateFromConsole: (s: ConsoleState) => void = () => {};
let sessionEnded: (code: number) => void = () => {};
const handlers = {
  changed: (s: ConsoleState) => setStateFromConsole(s),
  offered: (offer: Offer) => {
    titleCounter.bump(ct("alert.offer"));
    // Topic and language only: a notification can show on a locked screen.
    notifier.show(ct("alert.offer"), ct("notify.offerBody", ticketSummary(offer.ticket)), "offer");
    chime();
  },
  /** An SOS in a chat, an escalation waiting for a crisis responder, someone asking to join a circle. */
  alerted: (what: string, kind: "sos" | "escalation" | "join") => {
    titleCounter.bump(what);
    if (kind !== "join") notifier.show(kind === "sos" ? ct("alert.sos") : ct("alert.escalation"), what, kind);
    chime();
  },
  /** The socket closed for good (the session ended, or another tab took over: CLOSE.REPLACED). */
  closed: (code: number) => sessionEnded(code),
  message: () => titleCounter.bump(),
};

function ConsoleApp() {
  const [staff, setStaff] = useState<StaffConsole | undefined>(undefined);
  const [state, setState] = useState<ConsoleState | undefined>(undefined);
  const [notice, setNotice] = useState<string | undefined>(undefined);
  const [language, setLanguage] = useState<Language>(consoleLanguage());
  const onLanguage = (l: Language) => {
    pickConsoleLanguage(l, storage());
    setLanguage(l);
  };
  useEffect(() => {
    document.documentElement.lang = language;
    document.title = ct("app.title");
  }, [language]);
  setStateFromConsole = setState;
  sessionEnded = (code: number) => {
    void staff?.logout();
    setStaff(undefined);
    setState(undefined);
    if (code === CLOSE.REPLACED) setNotice(ct("login.moved"));
  };

  useEffect(() => {
    const seen = () => titleCounter.seen();
    document.addEventListener("visibilitychange", seen);
    window.addEventListener("focus", seen);
    // Without the vault, chats live in memory only: warn before a reload or close loses them.
    const warn = (e: BeforeUnloadEvent) => {
      if (!staff?.state.persistent && staff?.state.conversations.some((c) => !c.ended)) e.preventDefault();
    };
    window.addEventListener("beforeunload", warn);
    return () => {
      document.removeEventListener("visibilitychange", seen);
      window.removeEventListener("focus", seen);
      window.removeEventListener("beforeunload", warn);
    };
  }, [staff]);

  if (staff === undefined || state === undefined) {
    return (
      <LoginForm
        notice={notice}
        onLanguage={onLanguage}
        onLoggedIn={(c) => {
          setNotice(undefined);
          setStaff(c);
          setState(c.state);
        }}
      />
    );
  }
  return (
    <ConsoleScreen
      console={staff}
      state={state}
      onLanguage={onLanguage}
      onClockIn={() => notifier.askOnce()}
      onLogout={() => {
        void staff.logout().finally(() => {
          setStaff(undefined);
          setState(undefined);
        });
      }}
    />
  );
}

const root = document.getElementById("console");
if (root !== null) {
  render(<ConsoleApp />, root);
  // The deployment's own labels, when it has any: the screen is drawn again with them (state kept).
  void loadDeploymentLabels().then((taken) => {
    if (taken > 0) render(<ConsoleApp />, root);
  });
}
