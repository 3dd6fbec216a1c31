import { render } from "preact";
import { useEffect, useState } from "preact/hooks";

import { serverUrl } from "../net/connection";
import { CLOSE } from "../protocol";
import { ConsoleScreen } from "./Console";
import { type ConsoleState, LoginError, MOVED_NOTICE, StaffConsole, login } from "./staff";
import { Vault } from "./vault";
import "../styles.css";
import "./console.css";

const TITLE = document.title;

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

function LoginForm({ onLoggedIn, notice }: { onLoggedIn: (c: StaffConsole) => void; notice?: string | undefined }) {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [totp, setTotp] = useState("");
  const [error, setError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  return (
    <main class="login">
      <h1>Counsellor console</h1>
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
                    ? "Wrong username, password or code."
                    : e.code === "too_many_attempts"
                      ? `Too many attempts. Try again in ${e.retryAfterSecs ?? 60} seconds.`
                      : e.code === "busy"
                        ? "The server is busy with other logins. Try again in a minute."
                        : `Login failed (${e.code}).`
                  : "Could not connect to the server.",
              );
            })
            .finally(() => setBusy(false));
        }}
      >
        <label>
          Username
          <input name="username" autoComplete="username" required value={username} onInput={(e) => setUsername(e.currentTarget.value)} />
        </label>
        <label>
          Password
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
          Code from your authenticator app (if you use one)
          <input name="totp" inputMode="numeric" autoComplete="one-time-code" value={totp} onInput={(e) => setTotp(e.currentTarget.value)} />
        </label>
        {notice !== undefined && error === undefined && (
          <p class="notice" role="status">
            {notice}
          </p>
        )}
        {error !== undefined && <p role="alert">{error}</p>}
        <button type="submit" class="primary" disabled={busy}>
          Log in
        </button>
      </form>
    </main>
  );
}

let setStateFromConsole: (s: ConsoleState) => void = () => {};
let sessionEnded: (code: number) => void = () => {};
let unseen = 0;
const handlers = {
  changed: (s: ConsoleState) => setStateFromConsole(s),
  offered: () => {
    unseen += 1;
    document.title = `(${unseen}) New chat offer · ${TITLE}`;
    chime();
  },
  /** An SOS in a chat, or an escalation waiting for a crisis responder. */
  alerted: (what: string) => {
    unseen += 1;
    document.title = `(${unseen}) ${what} · ${TITLE}`;
    chime();
  },
  /** The socket closed for good (the session ended, or another tab took over: CLOSE.REPLACED). */
  closed: (code: number) => sessionEnded(code),
  message: () => {
    if (document.hidden) {
      unseen += 1;
      document.title = `(${unseen}) ${TITLE}`;
    }
  },
};

function ConsoleApp() {
  const [staff, setStaff] = useState<StaffConsole | undefined>(undefined);
  const [state, setState] = useState<ConsoleState | undefined>(undefined);
  const [notice, setNotice] = useState<string | undefined>(undefined);
  setStateFromConsole = setState;
  sessionEnded = (code: number) => {
    void staff?.logout();
    setStaff(undefined);
    setState(undefined);
    if (code === CLOSE.REPLACED) setNotice(MOVED_NOTICE);
  };

  useEffect(() => {
    const seen = () => {
      if (!document.hidden) {
        unseen = 0;
        document.title = TITLE;
      }
    };
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
if (root !== null) render(<ConsoleApp />, root);
