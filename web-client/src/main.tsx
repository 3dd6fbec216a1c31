import { render } from "preact";

import { App, type Intake } from "./app/App";
import { type CircleActions, CirclePage } from "./app/Circle";
import { installEscapeTwice, onQuickExit, quickExit } from "./app/quickExit";
import type { VisitorIntake } from "./visitor/intake";
import type { CircleState, VisitorCircle } from "./visitor/circle";
import { config } from "./config";
import { loadCatalogue, preferredLanguage } from "./i18n/core";
import { trackKeyboard } from "./app/keyboard";
import "./styles.css";

const exit = () => quickExit(window, config.exitUrl);
installEscapeTwice(window, exit);
trackKeyboard(window, document.documentElement);

// The MLS and protocol code (most of the page's weight) is loaded after the
// first screen is drawn: the consent screen, the numbers and quick exit do
// not need it, and on a slow phone they appear seconds sooner. It is
// fetched while she reads, so it is there when she taps "Start".
const loadChat = () => import("./visitor/live");
let chatModule: ReturnType<typeof loadChat> | undefined;
const chat = () => (chatModule ??= loadChat());
const prefetchChat = () => void chat().catch(() => (chatModule = undefined));

/** One chat per page load: a fresh identity, in memory only, wiped on quick exit. */
let current: VisitorIntake | undefined;
onQuickExit(() => {
  current?.sayLeaving(true);
  current?.close();
});
// Closing or reloading the tab ends this chat's keys (memory only): her
// counsellor learns at once that she left, instead of after the grace.
window.addEventListener("pagehide", (event) => {
  if (!event.persisted) current?.sayLeaving(false);
});

/** Start a fresh visitor identity once the chat code is here; offline if it cannot load. */
function withVisitor(onState: Parameters<Intake["start"]>[1], then: (visitor: VisitorIntake, openSocket: () => WebSocket) => Promise<void>) {
  current?.close();
  chat().then(
    async ({ VisitorIntake, openSocket }) => {
      const visitor = await VisitorIntake.create(onState, openSocket);
      current = visitor;
      await then(visitor, openSocket);
    },
    () => {
      chatModule = undefined;
      onState({ kind: "offline" });
    },
  );
}

const intake: Intake = {
  start(request, onState) {
    withVisitor(onState, (visitor, openSocket) =>
      visitor.start(openSocket(), {
        language: request.language,
        topic: request.topic ?? "just_talk",
        urgent: request.urgent,
      }),
    );
  },
  cancel() {
    void current?.cancel();
  },
  send(text) {
    current?.send(text);
  },
  typing() {
    current?.typing();
  },
  retry(id) {
    current?.retry(id);
  },
  resume(secret, onState) {
    withVisitor(onState, (visitor, openSocket) => visitor.resume(openSocket(), secret));
  },
  sos() {
    return current === undefined ? Promise.resolve(undefined) : current.sos();
  },
  feedback(answer) {
    return current === undefined ? Promise.reject(new Error("not connected")) : current.feedback(answer);
  },
  leaveTeamMessage(text) {
    return current === undefined ? Promise.reject(new Error("not connected")) : current.leaveTeamMessage(text);
  },
};

/**
 * A circle invitation. The link is `/#circle` and holds no secret: the page
 * asks for the code, which she types (it was given to her apart from the
 * link), so the code never enters the address bar or the browser's history.
 * An old-style link with the code in it (`/#circle=<code>`) is still
 * opened; the code is taken out of the address at once, but the browser's
 * history may already hold it (README, "Circle invitations").
 */
function invitationLink(hash: string): { code: string | undefined } | undefined {
  if (hash === "#circle") return { code: undefined };
  const match = /^#circle=([0-9A-Za-z-]{12,20})$/.exec(hash);
  return match === null ? undefined : { code: match[1] };
}

const root = document.getElementById("app");
const invitation = invitationLink(location.hash);
if (root !== null && invitation !== undefined) {
  history.replaceState(null, "", location.pathname);
  let circle: VisitorCircle | undefined;
  onQuickExit(() => circle?.close());
  const language = preferredLanguage(navigator.languages);
  const actions: CircleActions = {
    open: (code) => {
      circle?.close();
      show({ kind: "loading" });
      import("./visitor/circleLive").then(
        ({ VisitorCircle, openSocket }) =>
          VisitorCircle.open(code, openSocket(), show).then((c) => {
            circle = c;
          }),
        () => show({ kind: "offline" }),
      );
    },
    askAgain: () => {
      circle?.close();
      circle = undefined;
      show({ kind: "ask_code" });
    },
    join: (name) => void circle?.join(name),
    send: (text) => void circle?.send(text),
    leave: () => void circle?.leave(),
  };
  function show(state: CircleState | { kind: "ask_code" }) {
    render(<CirclePage initialLanguage={language} state={state} actions={actions} onExit={exit} />, root!);
  }
  const first = invitation.code;
  void loadCatalogue(language).then(() => (first === undefined ? show({ kind: "ask_code" }) : actions.open(first)));
  if (first === undefined) {
    requestAnimationFrame(() => setTimeout(() => void import("./visitor/circleLive").catch(() => undefined), 0));
  }
} else if (root !== null) {
  const language = preferredLanguage(navigator.languages);
  void loadCatalogue(language).then(() => {
    render(<App initialLanguage={language} onExit={exit} intake={intake} />, root);
    // After the first screen is drawn.
    requestAnimationFrame(() => setTimeout(prefetchChat, 0));
  });
}
