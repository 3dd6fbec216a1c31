import { useState } from "preact/hooks";

import type { Translate } from "../i18n";
import type { CrisisLine, OpeningWindow } from "../protocol";
import type { TeamMessageOutcome } from "../visitor/teamMessage";
import { HelpLines } from "./Conversation";

const hhmm = (minutes: number) => `${String(Math.floor(minutes / 60)).padStart(2, "0")}:${String(minutes % 60).padStart(2, "0")}`;

/**
 * When we open next, in the page's language and the service's time zone
 * (`Intl`, not the browser's own language: "Повторно работиме во понеделник
 * 09:00", never "Mon 09:00").
 */
export function nextOpening(at: number, language: string, timeZone: string, weekdayName: (isoDay: number) => string): string {
  const when = new Date(at * 1000);
  if (Intl.DateTimeFormat.supportedLocalesOf([language]).length > 0) {
    return new Intl.DateTimeFormat(language, { weekday: "long", hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZone }).format(when);
  }
  // A browser without this language's locale data (some builds carry only a
  // few) would write English ("Thu 09:00"): the day comes from our own
  // catalogue instead, the time from Intl in the service's time zone.
  const parts = new Intl.DateTimeFormat("en-GB", { weekday: "short", hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZone }).formatToParts(when);
  const part = (type: string) => parts.find((p) => p.type === type)?.value ?? "";
  const isoDay = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"].indexOf(part("weekday")) + 1;
  // Mid-sentence, as Intl would write it ("во четврток", not "Четврток").
  return `${weekdayName(Math.max(1, isoDay)).toLocaleLowerCase(language)} ${part("hour")}:${part("minute")}`;
}

interface Props {
  t: Translate;
  /** The page's language code. */
  language: string;
  openingHours: OpeningWindow[];
  timeZone: string;
  nextOpenAt: number | undefined;
  onTeamMessage: (text: string) => Promise<TeamMessageOutcome>;
}

/** Outside opening hours: when we open, and a message sealed to the team. */
export function OffHours({ t, language, openingHours, timeZone, nextOpenAt, onTeamMessage }: Props) {
  const [text, setText] = useState("");
  const [sent, setSent] = useState<"no" | "sending" | "sent" | "undelivered" | "failed">("no");
  const [lines, setLines] = useState<CrisisLine[]>([]);
  const weekday = (n: number) => t(`weekday.${Math.min(7, Math.max(1, n)) as 1 | 2 | 3 | 4 | 5 | 6 | 7}`);
  return (
    <>
      {openingHours.length > 0 && (
        <section aria-labelledby="hours-h">
          <h2 id="hours-h">{t("closed.hours")}</h2>
          <ul class="hours">
            {openingHours.map((w, i) => (
              <li key={i}>
                {weekday(w.weekday)}: {hhmm(w.opens)}–{hhmm(w.closes)}
              </li>
            ))}
          </ul>
          <p class="lead">{t("closed.timeZone", timeZone)}</p>
          {nextOpenAt !== undefined && (
            <p>
              {t("closed.next", nextOpening(nextOpenAt, language, timeZone, weekday))}
            </p>
          )}
        </section>
      )}
      <section aria-labelledby="team-h">
        <h2 id="team-h">{t("closed.messageTitle")}</h2>
        <p>{t("closed.messageExplain")}</p>
        {sent === "sent" ? (
          <p role="status" class="notice">
            {t("closed.messageSent")}
          </p>
        ) : sent === "undelivered" ? (
          <div role="alert">
            <p>{t("closed.messageUndelivered")}</p>
            {lines.length > 0 && <HelpLines lines={lines} language={language} />}
          </div>
        ) : (
          <form
            class="composer team-message"
            onSubmit={(e) => {
              e.preventDefault();
              if (!text.trim() || sent === "sending") return;
              setSent("sending");
              onTeamMessage(text.trim()).then(
                (outcome) => {
                  if (outcome.kind === "sent") {
                    setText("");
                    setSent("sent");
                  } else {
                    // Kept in the box: she may want to copy it elsewhere.
                    setLines(outcome.crisisLines);
                    setSent("undelivered");
                  }
                },
                () => setSent("failed"),
              );
            }}
          >
            <label class="visually-hidden" for="team-message">
              {t("closed.messageTitle")}
            </label>
            <textarea id="team-message" rows={4} maxLength={4000} value={text} onInput={(e) => setText(e.currentTarget.value)} />
            <button type="submit" class="send" disabled={sent === "sending"}>
              {t("closed.messageSend")}
            </button>
          </form>
        )}
        {sent === "failed" && <p role="alert">{t("closed.messageFailed")}</p>}
      </section>
    </>
  );
}
