// Settings of the visitor page, fixed at build time from .env (VITE_*).

import type { TextKey } from "./i18n";

function positiveInt(raw: string | undefined, fallback: number): number {
  const n = Number(raw);
  return Number.isInteger(n) && n > 0 ? n : fallback;
}

export interface CrisisNumber {
  /** What the number is for, in the visitor's language. */
  label: TextKey;
  /** As dialled (the tel: link drops spaces). */
  number: string;
}

export const config = {
  /** Quick exit replaces the page with this site. */
  exitUrl: import.meta.env.VITE_EXIT_URL || "https://www.google.com/",
  /** The neutral tab title: what the browser's history shows for this site. */
  tabTitle: import.meta.env.VITE_TAB_TITLE || "Notes",
  /** The server's envelope retention, in days, as the consent text states it. */
  retentionDays: positiveInt(import.meta.env.VITE_RETENTION_DAYS, 7),
  /**
   * Numbers shown by "I'm in danger now", for North Macedonia. The deploying
   * organisation must check them; 0800 11111 is Open Gate – La Strada's free
   * anti-trafficking SOS line.
   */
  crisisNumbers: [
    { label: "sos.emergency", number: "112" },
    { label: "sos.police", number: "192" },
    { label: "sos.ambulance", number: "194" },
    { label: "sos.trafficking", number: "0800 11111" },
  ] satisfies CrisisNumber[] as readonly CrisisNumber[],
};
