import { render } from "preact";

import { App, type Intake } from "./app/App";
import { installEscapeTwice, onQuickExit, quickExit } from "./app/quickExit";
import { serverUrl } from "./net/connection";
import { VisitorIntake } from "./visitor/intake";
import { config } from "./config";
import { preferredLanguage } from "./i18n";
import "./styles.css";

const exit = () => quickExit(window, config.exitUrl);
installEscapeTwice(window, exit);

const openSocket = () => new WebSocket(serverUrl(location));

/** One chat per page load: a fresh identity, in memory only, wiped on quick exit. */
let current: VisitorIntake | undefined;
onQuickExit(() => current?.close());

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

const root = document.getElementById("app");
if (root !== null) {
  render(<App initialLanguage={preferredLanguage(navigator.languages)} onExit={exit} intake={intake} />, root);
}
