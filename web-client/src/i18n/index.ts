// Languages of the visitor screens. Romani is not here yet: it should be
// written by Romani-speaking peers, not guessed (see web-client/README.md).
// The visitor's page uses core.ts (one catalogue fetched at a time); this
// module holds all of them at once, for tests and the console.

import type { Catalogue } from "./catalogue";
import { reference } from "./catalogue";
import { type Language, type Translate, translatorOf } from "./core";
import { mk } from "./mk";
import { sq } from "./sq";

export type { Catalogue, MessageKey, ParamKey, TextKey } from "./catalogue";
export { LANGUAGES, LANGUAGE_NAMES, type Language, type Translate, isLanguage, preferredLanguage } from "./core";

export const CATALOGUES: Readonly<Record<Language, Catalogue>> = { mk, sq, en: reference };

export function translator(language: Language): Translate {
  return translatorOf(CATALOGUES[language]);
}
