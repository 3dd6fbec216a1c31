import { render } from "preact";

import { App } from "./app/App";
import { installEscapeTwice, quickExit } from "./app/quickExit";
import { config } from "./config";
import { preferredLanguage } from "./i18n";
import "./styles.css";

const exit = () => quickExit(window, config.exitUrl);
installEscapeTwice(window, exit);

const root = document.getElementById("app");
if (root !== null) {
  render(<App initialLanguage={preferredLanguage(navigator.languages)} onExit={exit} />, root);
}
