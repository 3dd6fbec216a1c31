// The console's language: Macedonian, Albanian or English, picked by the
// counsellor (remembered on this staff computer) or taken from the
// browser. Every part of the console asks `ct` for its words, so lines
// written into a chat come out in the language of the moment.
//
// Topics, closing tags and languages are ids in the server config
// (intake.topics, intake.closing_tags, intake.languages); their labels
// live here per language, and an id a deployment adds without a label
// reads as words made from the id, never as a raw code with underscores.

import { type Language, LANGUAGE_NAMES, isLanguage, preferredLanguage } from "../index";
import { en } from "./en";
import { mk } from "./mk";
import { sq } from "./sq";

type Reference = typeof en;
export type ConsoleKey = keyof Reference;

/** Each message is a string, or a function of the same parameters as in English. */
export type ConsoleCatalogue = {
  readonly [K in ConsoleKey]: Reference[K] extends (...args: infer A) => string ? (...args: A) => string : string;
};
type ParamKey = { [K in ConsoleKey]: Reference[K] extends (...args: never[]) => string ? K : never }[ConsoleKey];
type TextKey = Exclude<ConsoleKey, ParamKey>;

export const CONSOLE_CATALOGUES: Readonly<Record<Language, ConsoleCatalogue>> = { mk, sq, en };
export const CONSOLE_LANGUAGES: readonly Language[] = ["mk", "sq", "en"];
export { LANGUAGE_NAMES };
export type { Language };

/** Where the counsellor's pick is kept (the staff computer; nothing else of the console is stored). */
export const LANGUAGE_STORAGE_KEY = "parasol.console.language";

let current: Language = "en";

export function consoleLanguage(): Language {
  return current;
}

export function setConsoleLanguage(language: Language): void {
  current = language;
}

/** The counsellor's remembered pick, else the browser's first language we speak, else English. */
export function initialConsoleLanguage(storage: Pick<Storage, "getItem"> | undefined, preferences: readonly string[]): Language {
  let saved: string | null = null;
  try {
    saved = storage?.getItem(LANGUAGE_STORAGE_KEY) ?? null;
  } catch {
    // Storage refused (private window): fall back to the browser.
  }
  return saved !== null && isLanguage(saved) ? saved : preferredLanguage(preferences);
}

/** The counsellor picked a language: use it and remember it on this computer. */
export function pickConsoleLanguage(language: Language, storage: Pick<Storage, "setItem"> | undefined): void {
  setConsoleLanguage(language);
  try {
    storage?.setItem(LANGUAGE_STORAGE_KEY, language);
  } catch {
    // Not remembered; still used for this page.
  }
}

/** The console's words in the current language. */
export function ct<K extends TextKey>(key: K): string;
export function ct<K extends ParamKey>(key: K, ...args: Parameters<Reference[K]>): string;
export function ct(key: ConsoleKey, ...args: unknown[]): string {
  const message = CONSOLE_CATALOGUES[current][key] as string | ((...a: unknown[]) => string);
  return typeof message === "function" ? message(...args) : message;
}

/** "police_legal" → "Police legal": an id without a label still reads as words. */
export function humanize(id: string): string {
  const words = id.replace(/[_-]+/g, " ").trim();
  return words === "" ? id : words.charAt(0).toUpperCase() + words.slice(1);
}

/**
 * A deployment's own labels, from `/console-labels.json` in the web root
 * (the server serves what is there; nothing to rebuild):
 * `{ "mk": { "topic.housing": "Домување" }, "sq": { … }, "en": { … } }`.
 * Only topic, tag and language labels; they win over the built-in ones.
 */
const deploymentLabels: Record<Language, Map<string, string>> = { mk: new Map(), sq: new Map(), en: new Map() };

const LABEL_KEY = /^(topic|tag|language)\.[A-Za-z0-9_-]{1,64}$/;
/** Labels longer than this are ignored (a label, not a text). */
export const MAX_LABEL_CHARS = 80;

/** Take a deployment's labels; anything not shaped as above is left out. Answers how many were taken. */
export function addDeploymentLabels(json: unknown): number {
  if (typeof json !== "object" || json === null) return 0;
  let taken = 0;
  for (const language of CONSOLE_LANGUAGES) {
    const labels = (json as Record<string, unknown>)[language];
    if (typeof labels !== "object" || labels === null) continue;
    for (const [key, label] of Object.entries(labels as Record<string, unknown>)) {
      if (!LABEL_KEY.test(key) || typeof label !== "string" || label.trim() === "" || label.length > MAX_LABEL_CHARS) continue;
      deploymentLabels[language].set(key, label.trim());
      taken += 1;
    }
  }
  return taken;
}

/** Fetch `/console-labels.json` if the deployment put one in the web root (else the page gets index.html: ignored). */
export async function loadDeploymentLabels(fetchFn: typeof fetch = fetch): Promise<number> {
  try {
    const res = await fetchFn("/console-labels.json", { credentials: "omit", cache: "no-store" });
    if (!res.ok || !(res.headers.get("Content-Type") ?? "").includes("json")) return 0;
    return addDeploymentLabels(await res.json());
  } catch {
    return 0;
  }
}

function labelOf(prefix: "topic" | "tag" | "language", id: string): string {
  const own = deploymentLabels[current].get(`${prefix}.${id}`);
  if (own !== undefined) return own;
  const catalogue = CONSOLE_CATALOGUES[current] as unknown as Record<string, string | undefined>;
  const label = catalogue[`${prefix}.${id}`];
  return typeof label === "string" ? label : prefix === "language" ? id.toUpperCase() : humanize(id);
}

export const topicLabel = (id: string): string => (id === "" ? ct("kind.chat") : labelOf("topic", id));
export const tagLabel = (id: string): string => labelOf("tag", id);
export const languageLabel = (code: string): string => labelOf("language", code);

/** A span of time, short: "40s", "3 min", "1 h 5 min". */
export function duration(secs: number): string {
  const s = Math.max(0, Math.floor(secs));
  if (s < 60) return ct("time.seconds", s);
  const m = Math.floor(s / 60);
  return m < 60 ? ct("time.minutes", m) : ct("time.hours", Math.floor(m / 60), m % 60);
}

/** A staff role in words. */
export const roleLabel = (role: string): string =>
  role === "counsellor" || role === "supervisor" || role === "admin" || role === "crisis_responder" ? ct(`role.${role}`) : humanize(role);
