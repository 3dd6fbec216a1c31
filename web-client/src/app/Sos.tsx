import { useEffect, useRef } from "preact/hooks";

import type { CrisisNumber } from "../config";
import type { Translate } from "../i18n";
import type { CrisisLine } from "../protocol";
import { HelpLines } from "./Conversation";

interface Props {
  t: Translate;
  numbers: readonly CrisisNumber[];
  /** Lines the server sent back (shown once they arrive; the page's own numbers come first, at once). */
  serverLines?: CrisisLine[] | undefined;
  onClose: () => void;
  /** The page's language, for the names of the server's lines. */
  language: string;
}

/** "I'm in danger now": the emergency numbers, one tap to call. */
export function Sos({ t, numbers, serverLines, onClose, language }: Props) {
  // Only the numbers the page does not already show.
  const shown = new Set(numbers.map((n) => n.number.replace(/\s+/g, "")));
  const more = (serverLines ?? []).filter((l) => !shown.has(l.number.replace(/\s+/g, "")));
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => heading.current?.focus(), []);
  return (
    <section class="sos" role="dialog" aria-modal="true" aria-labelledby="sos-title">
      <h2 id="sos-title" ref={heading} tabIndex={-1}>
        {t("sos.title")}
      </h2>
      <p>{t("sos.call")}</p>
      <ul class="numbers">
        {numbers.map((n) => (
          <li key={n.number}>
            <a class="call" href={`tel:${n.number.replace(/\s+/g, "")}`}>
              <span class="number">{n.number}</span>
              <span class="label">{t(n.label)}</span>
            </a>
          </li>
        ))}
      </ul>
      {more.length > 0 && (
        <>
          <p>{t("sos.moreLines")}</p>
          <HelpLines lines={more} language={language} />
        </>
      )}
      <p class="sos-escalation">{t("sos.escalation")}</p>
      <button type="button" class="secondary" onClick={onClose}>
        {t("sos.close")}
      </button>
    </section>
  );
}
