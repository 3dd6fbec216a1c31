import { describe, expect, it } from "vitest";

import { CLOSE } from "../protocol";
import { RECONNECT_FIRST_MS, RECONNECT_MAX_MS, type ReconnectClock, Reconnector, afterClose, backoff } from "./reconnect";

/** A clock whose sleeps return at once and are written down. */
class FakeClock implements ReconnectClock {
  time = 1_000_000;
  readonly waits: number[] = [];
  onSleep: (() => void) | undefined;
  now(): number {
    return this.time;
  }
  async sleep(ms: number): Promise<void> {
    this.waits.push(ms);
    this.time += ms;
    this.onSleep?.();
  }
}

describe("afterClose", () => {
  it("follows the protocol's close codes", () => {
    expect(afterClose(CLOSE.REPLACED)).toBe("replaced");
    expect(afterClose(CLOSE.SESSION_ENDED)).toBe("session_ended");
    expect(afterClose(CLOSE.POLICY_VIOLATION)).toBe("stop");
    expect(afterClose(CLOSE.UNSUPPORTED_DATA)).toBe("stop");
    for (const code of [CLOSE.GOING_AWAY, CLOSE.SLOW_CONSUMER, CLOSE.IDLE_TIMEOUT, CLOSE.INTERNAL_ERROR, CLOSE.MESSAGE_TOO_BIG]) {
      expect(afterClose(code)).toBe("reconnect");
    }
    // A dropped network closes with 1006 in the browser: come back.
    expect(afterClose(1006)).toBe("reconnect");
  });
});

describe("backoff", () => {
  it("doubles from the first wait up to the cap", () => {
    expect([0, 1, 2, 3, 4, 5, 6, 50].map((n) => backoff(n))).toEqual([500, 1000, 2000, 4000, 8000, RECONNECT_MAX_MS, RECONNECT_MAX_MS, RECONNECT_MAX_MS]);
    expect(backoff(0)).toBe(RECONNECT_FIRST_MS);
  });
});

describe("Reconnector", () => {
  it("retries with growing waits until an attempt succeeds", async () => {
    const clock = new FakeClock();
    const reconnector = new Reconnector(clock);
    let attempts = 0;
    const outcome = reconnector.run({
      attempt: async () => {
        attempts += 1;
        if (attempts < 4) throw new Error("socket closed");
      },
      stopped: () => false,
    });
    expect(reconnector.active).toBe(true);
    expect(await outcome).toEqual({ kind: "connected" });
    expect(attempts).toBe(4);
    expect(clock.waits).toEqual([500, 1000, 2000, 4000]);
    expect(reconnector.active).toBe(false);
  });

  it("runs one loop at a time", async () => {
    const reconnector = new Reconnector(new FakeClock());
    const first = reconnector.run({ attempt: async () => undefined, stopped: () => false });
    expect(reconnector.run({ attempt: async () => undefined, stopped: () => false })).toBeUndefined();
    expect(await first).toEqual({ kind: "connected" });
    // Free again once the first loop ended.
    expect(reconnector.run({ attempt: async () => undefined, stopped: () => false })).toBeDefined();
  });

  it("gives up at the deadline", async () => {
    const clock = new FakeClock();
    const reconnector = new Reconnector(clock);
    let attempts = 0;
    const outcome = await reconnector.run({
      attempt: async () => {
        attempts += 1;
        throw new Error("down");
      },
      stopped: () => false,
      deadline: clock.time + 10_000,
    });
    expect(outcome).toEqual({ kind: "expired" });
    // 500 + 1000 + 2000 + 4000 = 7500 < 10 000; the next wait ends past it.
    expect(clock.waits).toEqual([500, 1000, 2000, 4000, 8000]);
    expect(attempts).toBe(5);
  });

  it("stops quietly when the page gives up during a wait, without another attempt", async () => {
    const clock = new FakeClock();
    const reconnector = new Reconnector(clock);
    let stopped = false;
    let attempts = 0;
    clock.onSleep = () => {
      if (clock.waits.length === 2) stopped = true;
    };
    const outcome = await reconnector.run({
      attempt: async () => {
        attempts += 1;
        throw new Error("down");
      },
      stopped: () => stopped,
    });
    expect(outcome).toEqual({ kind: "stopped" });
    expect(attempts).toBe(1);
  });

  it("ends on a fatal failure (the session is gone)", async () => {
    const clock = new FakeClock();
    const reconnector = new Reconnector(clock);
    const gone = new Error("authentication_failed");
    let attempts = 0;
    const outcome = await reconnector.run({
      attempt: async () => {
        attempts += 1;
        throw attempts === 1 ? new Error("network") : gone;
      },
      stopped: () => false,
      fatal: (e) => e === gone,
    });
    expect(outcome).toEqual({ kind: "fatal", error: gone });
    expect(attempts).toBe(2);
    expect(reconnector.active).toBe(false);
  });
});
