import { describe, expect, it } from "vitest";

import { decodeText } from "./session";
import { TYPING_IDLE_MS, TYPING_RESEND_MS, TYPING_START, TYPING_STOP, TypingSender, TypingWatch, typingSignal } from "./typing";

function fakeTimers() {
  let next = 1;
  const pending = new Map<number, () => void>();
  return {
    timers: {
      set: ((f: () => void) => {
        const id = next++;
        pending.set(id, f);
        return id;
      }) as unknown as typeof setTimeout,
      clear: ((id: number) => pending.delete(id)) as unknown as typeof clearTimeout,
    },
    fire() {
      const all = [...pending.values()];
      pending.clear();
      all.forEach((f) => f());
    },
  };
}

describe("typing indicators", () => {
  it("are never text: a text-only client drops them, and no text is taken for one", () => {
    expect(decodeText(TYPING_START)).toBeUndefined();
    expect(decodeText(TYPING_STOP)).toBeUndefined();
    expect(typingSignal(TYPING_START)).toBe("start");
    expect(typingSignal(TYPING_STOP)).toBe("stop");
    expect(typingSignal(new TextEncoder().encode("T\u0001x"))).toBeUndefined();
    expect(typingSignal(new Uint8Array([0xff, 0x54, 7]))).toBeUndefined();
  });

  it("sends one start per few seconds while typing, and a stop after a pause", () => {
    let now = 0;
    const sent: string[] = [];
    const t = fakeTimers();
    const sender = new TypingSender((s) => sent.push(typingSignal(s) ?? "?"), () => now, t.timers);
    for (let i = 0; i < 10; i++) {
      sender.input();
      now += 100;
    }
    expect(sent).toEqual(["start"]);
    now += TYPING_RESEND_MS;
    sender.input();
    expect(sent).toEqual(["start", "start"]);
    t.fire(); // the pause
    expect(sent).toEqual(["start", "start", "stop"]);
    sender.input();
    sender.sent(); // the message itself ends typing: no stop needed
    t.fire();
    expect(sent).toEqual(["start", "start", "stop", "start"]);
  });

  it("shows typing until a stop, a message, or the idle time", () => {
    let now = 0;
    const watch = new TypingWatch(() => now);
    expect(watch.typing).toBe(false);
    watch.signal("start");
    expect(watch.typing).toBe(true);
    now += TYPING_IDLE_MS - 1;
    expect(watch.typing).toBe(true);
    now += 1;
    expect(watch.typing).toBe(false);
    watch.signal("start");
    watch.message();
    expect(watch.typing).toBe(false);
    watch.signal("start");
    watch.signal("stop");
    expect(watch.typing).toBe(false);
  });
});
