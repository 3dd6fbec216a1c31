import { describe, expect, it } from "vitest";

import { nextOpening } from "./OffHours";

// Monday 1 December 2025, 09:00 in Skopje (08:00 UTC).
const MONDAY_9 = Date.UTC(2025, 11, 1, 8, 0) / 1000;

const day = (n: number) => ["понеделник", "вторник", "среда", "четврток", "петок", "сабота", "недела"][n - 1]!;

describe("the next opening", () => {
  it("is written in the page's language and the service's time zone", () => {
    expect(nextOpening(MONDAY_9, "en", "Europe/Skopje", day)).toBe("Monday 09:00");
    expect(nextOpening(MONDAY_9, "mk", "Europe/Skopje", day).toLowerCase()).toContain("понеделник");
    expect(nextOpening(MONDAY_9, "mk", "Europe/Skopje", day)).toContain("09:00");
    expect(nextOpening(MONDAY_9, "sq", "Europe/Skopje", day).toLowerCase()).toContain("e hënë");
    expect(nextOpening(MONDAY_9, "sq", "Europe/Skopje", day)).toContain("09:00");
  });

  it("takes the day from the catalogue where the browser has no data for the language", () => {
    expect(nextOpening(MONDAY_9, "xx-none", "Europe/Skopje", day)).toBe("понеделник 09:00");
    expect(nextOpening(MONDAY_9 + 86_400 * 3, "xx-none", "UTC", day)).toBe("четврток 08:00");
  });
});
