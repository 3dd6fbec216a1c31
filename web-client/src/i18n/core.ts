// What the visitor's page needs of the catalogues without carrying all of
// them: English (the reference) is in the page; Macedonian and Albanian
// are each fetched when chosen, so a visitor downloads her language only.

import type { Catalogue, ParamKey, TextKey } from "./catalogue";
import { reference } from "./catalogue";

export const LANGUAGES = ["mk", "sq", "en"] as const;
export type Language = (typeof LANGUAGES)[number];

/** Each language's name in itself, as the language picker shows it. */
export const LANGUAGE_NAMES: Readonly<Record<Language, string>> = {
  mk: "Македонски",
  sq: "Shqip",
  en: "English",
};

export function isLanguage(s: string): s is Language {
  return (LANGUAGES as readonly string[]).includes(s);
}

/** The first of the browser's preferred languages we speak, else English. */
export function preferredLanguage(preferences: readonly string[]): Language {
  for (const tag of preferences) {
    const base = tag.toLowerCase().split("-")[0] ?? "";
    if (isLanguage(base)) return base;
  }
  return "en";
}

/** A translator bound to one language. */
export interface Translate {
  <K extends TextKey>(key: K): string;
  <K extends ParamKey>(key: K, ...args: Parameters<Catalogue[K]>): string;
}

export function translatorOf(catalogue: Catalogue): Translate {
  return ((key: TextKey | ParamKey, ...args: unknown[]) => {
    const message = catalogue[key] as string | ((...a: unknown[]) => string);
    return typeof message === "function" ? message(...args) : message;
  }) as Translate;
}

const loaded = new Map<Language, Catalogue>([["en", reference]]);

/** The catalogue of `language` if it has been fetched (English always has). */
export function loadedCatalogue(language: Language): Catalogue | undefined {
  return loaded.get(language);
}

/** Fetch the catalogue of `language` (once). English on failure: the page must still work. */
export async function loadCatalogue(language: Language): Promise<Catalogue> {
  const have = loaded.get(language);
  if (have !== undefined) return have;
  try {
    const catalogue = language === "mk" ? (await import("./mk")).mk : language === "sq" ? (await import("./sq")).sq : reference;
    loaded.set(language, catalogue);
    return catalogue;
  } catch {
    return reference;
  }
}
