import { render } from "preact";
import { useEffect, useState } from "preact/hooks";

import { serverUrl } from "../net/connection";
import { ConsoleScreen } from "./Console";
import { type ConsoleState, LoginError, StaffConsole, login } from "./staff";
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

function LoginForm({ onLoggedIn }: { onLoggedIn: (c: StaffConsole) => void }) {
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
          login(username, password, totp || undefined)
            .then((answer) => {
              setPassword("");
              const openSocket = () => new WebSocket(serverUrl(location));
              return StaffConsole.connect(openSocket(), answer.token, handlers, openSocket);
            })
            .then(onLoggedIn)
            .catch((e: unknown) => {
              setError(
                e instanceof LoginError
                  ? e.code === "invalid_credentials"
                    ? "Wrong username, password or code."
                    : e.code === "too_many_attempts"
                      ? `Too many attempts. Try again in ${e.retryAfterSecs ?? 60} seconds.`
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
  /** The socket closed for good (session ended 4004, or another tab took over 4001). */
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
  setStateFromConsole = setState;
  sessionEnded = () => {
    void staff?.logout();
    setStaff(undefined);
    setState(undefined);
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
    // Chats live in memory only: warn before a reload or close loses them.
    const warn = (e: BeforeUnloadEvent) => {
      if (staff?.state.conversations.some((c) => !c.ended)) e.preventDefault();
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
        onLoggedIn={(c) => {
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
