// Languages of the visitor screens. Romani is not here yet: it should be
// written by Romani-speaking peers, not guessed (see web-client/README.md).

import type { Catalogue, ParamKey, TextKey } from "./catalogue";
import { reference } from "./catalogue";
import { mk } from "./mk";
import { sq } from "./sq";

export type { Catalogue, MessageKey, ParamKey, TextKey } from "./catalogue";

export const LANGUAGES = ["mk", "sq", "en"] as const;
export type Language = (typeof LANGUAGES)[number];

/** Each language's name in itself, as the language picker shows it. */
export const LANGUAGE_NAMES: Readonly<Record<Language, string>> = {
  mk: "Македонски",
  sq: "Shqip",
  en: "English",
};

export const CATALOGUES: Readonly<Record<Language, Catalogue>> = { mk, sq, en: reference };

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

export function translator(language: Language): Translate {
  const catalogue = CATALOGUES[language];
  return ((key: TextKey | ParamKey, ...args: unknown[]) => {
    const message = catalogue[key] as string | ((...a: unknown[]) => string);
    return typeof message === "function" ? message(...args) : message;
  }) as Translate;
}
