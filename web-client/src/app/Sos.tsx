import { useEffect, useRef } from "preact/hooks";

import type { CrisisNumber } from "../config";
import type { Translate } from "../i18n";

interface Props {
  t: Translate;
  numbers: readonly CrisisNumber[];
  onClose: () => void;
}

/** "I'm in danger now": the emergency numbers, one tap to call. */
export function Sos({ t, numbers, onClose }: Props) {
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
      <button type="button" class="secondary" onClick={onClose}>
        {t("sos.close")}
      </button>
    </section>
  );
}
