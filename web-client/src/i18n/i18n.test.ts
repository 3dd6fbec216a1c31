import { describe, expect, it } from "vitest";

import { en } from "./en";
import { CATALOGUES, LANGUAGES, LANGUAGE_NAMES, type MessageKey, preferredLanguage, translator } from "./index";

const keys = Object.keys(en) as MessageKey[];

describe("catalogues", () => {
  it.each(LANGUAGES)("%s has every key, each of the reference's kind, none empty", (lang) => {
    const catalogue = CATALOGUES[lang];
    expect(Object.keys(catalogue).sort()).toEqual([...keys].sort());
    for (const key of keys) {
      const message = catalogue[key];
      expect(typeof message, key).toBe(typeof en[key]);
      const sample = typeof message === "function" ? (message as (n: number) => string)(7) : message;
      expect(sample.trim().length, key).toBeGreaterThan(0);
      expect(sample, key).not.toMatch(/undefined|NaN|\$\{/);
    }
  });

  it.each(["mk", "sq"] as const)("%s is translated, not copied from English", (lang) => {
    const same = keys.filter((k) => typeof en[k] === "string" && CATALOGUES[lang][k] === en[k]);
    expect(same).toEqual([]);
  });

  it("writes Macedonian in Cyrillic", () => {
    for (const key of keys) {
      const message = CATALOGUES.mk[key];
      const text = typeof message === "function" ? (message as (n: number) => string)(3) : message;
      const latinWords = text.match(/[A-Za-z]{4,}/g) ?? [];
      // Browser names and the words of their menus stay as the browser shows them.
      const names = ["Strada", "Chrome", "Samsung", "Internet", "Safari", "iPhone", "Firefox", "Incognito", "Secret", "mode", "Private"];
      expect(latinWords.filter((w) => !names.includes(w)), key).toEqual([]);
    }
  });

  it("puts the numbers into the sentences, with the right plural", () => {
    const t = { en: translator("en"), mk: translator("mk"), sq: translator("sq") };
    expect(t.en("consent.kept", 7)).toContain("after 7 days");
    expect(t.en("consent.kept", 1)).toContain("after 1 day ");
    expect(t.mk("consent.kept", 7)).toContain("по 7 дена");
    expect(t.mk("consent.kept", 21)).toContain("по 21 ден");
    expect(t.mk("consent.kept", 11)).toContain("по 11 дена");
    expect(t.sq("consent.kept", 7)).toContain("pas 7 ditësh");
    expect(t.sq("consent.kept", 1)).toContain("pas 1 dite");
    expect(t.en("waiting.position", 1)).toBe("You are next.");
    expect(t.en("waiting.position", 4)).toBe("You are number 4 in line.");
    expect(t.mk("waiting.position", 4)).toBe("Ти си број 4 во редот.");
    expect(t.sq("waiting.position", 4)).toBe("Numri yt në radhë: 4.");
    expect(t.mk("waiting.estimate", 1)).toBe("Околу 1 минута");
    expect(t.mk("waiting.estimate", 5)).toBe("Околу 5 минути");
    expect(t.sq("waiting.estimate", 0)).toBe("Më pak se një minutë");
    expect(t.en("waiting.estimate", 12)).toBe("About 12 minutes");
  });

  it("names each language in itself", () => {
    expect(LANGUAGE_NAMES).toEqual({ mk: "Македонски", sq: "Shqip", en: "English" });
  });

  it("picks the browser's first language that we speak", () => {
    expect(preferredLanguage(["sq-MK", "mk", "en"])).toBe("sq");
    expect(preferredLanguage(["de-DE", "MK"])).toBe("mk");
    expect(preferredLanguage(["ro", "bg"])).toBe("en");
    expect(preferredLanguage([])).toBe("en");
  });
});
