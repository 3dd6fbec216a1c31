import { render } from "preact";

import { App, type Intake } from "./app/App";
import { type CircleActions, CirclePage } from "./app/Circle";
import { installEscapeTwice, onQuickExit, quickExit } from "./app/quickExit";
import { serverUrl } from "./net/connection";
import { VisitorIntake } from "./visitor/intake";
import { type CircleState, VisitorCircle } from "./visitor/circle";
import { config } from "./config";
import { preferredLanguage } from "./i18n";
import "./styles.css";

const exit = () => quickExit(window, config.exitUrl);
installEscapeTwice(window, exit);

const openSocket = () => new WebSocket(serverUrl(location));

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

const intake: Intake = {
  start(request, onState) {
    current?.close();
    void VisitorIntake.create(onState, openSocket).then((visitor) => {
      current = visitor;
      return visitor.start(openSocket(), {
        language: request.language,
        topic: request.topic ?? "just_talk",
        urgent: request.urgent,
      });
    });
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
    current?.close();
    void VisitorIntake.create(onState, openSocket).then((visitor) => {
      current = visitor;
      return visitor.resume(openSocket(), secret);
    });
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

/** An invitation link: `/#circle=<code>` opens the circle's page instead. */
function invitationCode(hash: string): string | undefined {
  const match = /^#circle=([0-9A-Za-z-]{12,20})$/.exec(hash);
  return match?.[1];
}

const root = document.getElementById("app");
const code = invitationCode(location.hash);
if (root !== null && code !== undefined) {
  // The code stays out of the history entry left behind.
  history.replaceState(null, "", location.pathname);
  let circle: VisitorCircle | undefined;
  onQuickExit(() => circle?.close());
  const language = preferredLanguage(navigator.languages);
  const actions: CircleActions = {
    join: (name) => void circle?.join(name),
    send: (text) => void circle?.send(text),
    leave: () => void circle?.leave(),
  };
  const show = (state: CircleState) =>
    render(<CirclePage initialLanguage={language} state={state} actions={actions} onExit={exit} />, root);
  void VisitorCircle.open(code, openSocket(), show).then((c) => {
    circle = c;
  });
} else if (root !== null) {
  render(<App initialLanguage={preferredLanguage(navigator.languages)} onExit={exit} intake={intake} />, root);
}
