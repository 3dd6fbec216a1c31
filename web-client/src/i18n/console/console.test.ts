import { describe, expect, it } from "vitest";

import { en } from "./en";
import {
  CONSOLE_CATALOGUES,
  MAX_LABEL_CHARS,
  addDeploymentLabels,
  loadDeploymentLabels,
  topicLabel,
  LANGUAGE_STORAGE_KEY,
  ct,
  duration,
  humanize,
  initialConsoleLanguage,
  pickConsoleLanguage,
  setConsoleLanguage,
  tagLabel,
} from "./index";

describe("the console's languages", () => {
  it("mk and sq give every key English has, and translate (not copy) the words", () => {
    const keys = Object.keys(en).sort();
    for (const language of ["mk", "sq"] as const) {
      const catalogue = CONSOLE_CATALOGUES[language] as unknown as Record<string, unknown>;
      expect(Object.keys(catalogue).sort()).toEqual(keys);
      // Codes and "SOS" stay the same; sentences must not.
      const copied = keys.filter((k) => typeof en[k as keyof typeof en] === "string" && catalogue[k] === en[k as keyof typeof en] && (catalogue[k] as string).length > 12);
      expect(copied, `${language} copies English`).toEqual([]);
    }
  });

  it("remembers the counsellor's pick on this computer, else follows the browser", () => {
    const store = new Map<string, string>();
    const storage = { getItem: (k: string) => store.get(k) ?? null, setItem: (k: string, v: string) => void store.set(k, v) };
    expect(initialConsoleLanguage(storage, ["sq-MK", "en"])).toBe("sq");
    expect(initialConsoleLanguage(storage, ["de"])).toBe("en");
    pickConsoleLanguage("mk", storage);
    expect(store.get(LANGUAGE_STORAGE_KEY)).toBe("mk");
    expect(initialConsoleLanguage(storage, ["sq"])).toBe("mk");
    expect(ct("bar.logout")).toBe("Одјави се");
    setConsoleLanguage("en");
    const refusing = { getItem: () => { throw new Error("denied"); } };
    expect(initialConsoleLanguage(refusing, ["mk"])).toBe("mk");
  });

  it("labels ids, and makes words of an id it has no label for", () => {
    expect(tagLabel("no_reply")).toBe("No reply");
    expect(tagLabel("legal-aid")).toBe("Legal aid");
    expect(humanize("police_legal")).toBe("Police legal");
  });

  it("says durations short, in the language", () => {
    expect([0, 59, 60, 3599, 3900].map(duration)).toEqual(["0s", "59s", "1 min", "59 min", "1 h 5 min"]);
    setConsoleLanguage("sq");
    expect(duration(3900)).toBe("1 orë 5 min");
    setConsoleLanguage("en");
  });

  it("takes a deployment's own labels per language, and nothing shaped otherwise", async () => {
    expect(topicLabel("housing")).toBe("Housing");
    const taken = addDeploymentLabels({
      mk: { "topic.housing": "Домување", "tag.support": "Поддршка и совет", "topic.bad key": "x", "other.x": "y" },
      sq: { "topic.housing": "Strehim", "topic.long": "x".repeat(MAX_LABEL_CHARS + 1), "topic.empty": " " },
      de: { "topic.housing": "Wohnen" },
    });
    expect(taken).toBe(3);
    setConsoleLanguage("mk");
    expect(topicLabel("housing")).toBe("Домување");
    expect(tagLabel("support")).toBe("Поддршка и совет");
    setConsoleLanguage("sq");
    expect(topicLabel("housing")).toBe("Strehim");
    expect(topicLabel("long")).toBe("Long");
    setConsoleLanguage("en");
    expect(topicLabel("housing")).toBe("Housing");
    expect(addDeploymentLabels(null)).toBe(0);
    // The file is absent: the server answers with the page (HTML), which is ignored.
    const html = async () => new Response("<!doctype html>", { headers: { "Content-Type": "text/html" } });
    expect(await loadDeploymentLabels(html as unknown as typeof fetch)).toBe(0);
    const json = async () => new Response(JSON.stringify({ en: { "tag.legal_aid": "Legal aid referral" } }), { headers: { "Content-Type": "application/json" } });
    expect(await loadDeploymentLabels(json as unknown as typeof fetch)).toBe(1);
    expect(tagLabel("legal_aid")).toBe("Legal aid referral");
  });
});
