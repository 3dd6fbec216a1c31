import { describe, expect, it } from "vitest";

import { crisisLineName } from "./crisisLines";

const line = { name: "SOS line against human trafficking", number: "0800 11111", hours: "24/7" };

describe("crisis line names", () => {
  it("are shown in the page's language when the deployment gives one", () => {
    const named = { ...line, names: [{ language: "mk", name: "СОС линија" }, { language: "sq", name: "Linja SOS" }] };
    expect(crisisLineName(named, "mk")).toBe("СОС линија");
    expect(crisisLineName(named, "sq")).toBe("Linja SOS");
  });

  it("fall back to the default name", () => {
    expect(crisisLineName({ ...line, names: [{ language: "mk", name: "СОС линија" }] }, "en")).toBe(line.name);
    expect(crisisLineName({ ...line, names: [{ language: "mk", name: " " }] }, "mk")).toBe(line.name);
    expect(crisisLineName(line, "mk")).toBe(line.name);
  });
});
