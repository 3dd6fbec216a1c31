// The message catalogue type: English defines the keys and the parameters
// of each message; every language must give exactly those, so a missing or
// extra translation is a compile error, not a blank on someone's screen.

import { en } from "./en";

type Reference = typeof en;

export type MessageKey = keyof Reference;

/** Each message is a string, or a function of the same parameters as in English. */
export type Catalogue = {
  readonly [K in MessageKey]: Reference[K] extends (...args: infer A) => string ? (...args: A) => string : string;
};

/** Keys whose message takes parameters. */
export type ParamKey = {
  [K in MessageKey]: Reference[K] extends (...args: never[]) => string ? K : never;
}[MessageKey];

/** Keys whose message is plain text. */
export type TextKey = Exclude<MessageKey, ParamKey>;

// English must itself be a valid catalogue.
export const reference: Catalogue = en;
