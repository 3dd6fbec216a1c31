import { describe, expect, it, vi } from "vitest";

import { type ExitWindow, EscapeTwice, onQuickExit, quickExit, wipeStorage } from "./quickExit";

class MemoryStorage implements Storage {
  private items = new Map<string, string>();
  get length() {
    return this.items.size;
  }
  clear() {
    this.items.clear();
  }
  getItem(k: string) {
    return this.items.get(k) ?? null;
  }
  key(i: number) {
    return [...this.items.keys()][i] ?? null;
  }
  removeItem(k: string) {
    this.items.delete(k);
  }
  setItem(k: string, v: string) {
    this.items.set(k, v);
  }
}

/** A document whose cookie property behaves like the browser's (set one, read all). */
function cookieJar() {
  const jar = new Map<string, string>();
  return {
    get cookie() {
      return [...jar].map(([k, v]) => `${k}=${v}`).join("; ");
    },
    set cookie(s: string) {
      const [pair, ...attrs] = s.split(";");
      const [name, value] = (pair ?? "").split("=");
      if (attrs.some((a) => /max-age=0/i.test(a.trim()))) jar.delete(name!.trim());
      else jar.set(name!.trim(), value ?? "");
    },
    title: "Notes",
    body: { replaceChildren: vi.fn() },
  };
}

function fakeWindow() {
  const replace = vi.fn();
  const w = {
    location: { replace },
    document: cookieJar(),
    localStorage: new MemoryStorage(),
    sessionStorage: new MemoryStorage(),
    indexedDB: { databases: vi.fn(async () => [{ name: "old", version: 1 }]), deleteDatabase: vi.fn() },
    caches: { keys: vi.fn(async () => ["v1"]), delete: vi.fn(async () => true) },
  };
  return { w, replace };
}

describe("quick exit", () => {
  it("wipes storage, cookies, memory and the page, then replaces the location", async () => {
    const { w, replace } = fakeWindow();
    w.localStorage.setItem("draft", "secret");
    w.sessionStorage.setItem("ticket", "secret");
    w.document.cookie = "a=1; Path=/";
    w.document.cookie = "b=2; Path=/";
    const wiped = vi.fn();
    onQuickExit(wiped);
    quickExit(w as unknown as ExitWindow, "https://weather.example/");
    expect(w.localStorage.length).toBe(0);
    expect(w.sessionStorage.length).toBe(0);
    expect(w.document.cookie).toBe("");
    expect(w.document.title).toBe("");
    expect(w.document.body.replaceChildren).toHaveBeenCalled();
    expect(wiped).toHaveBeenCalledOnce();
    expect(replace).toHaveBeenCalledWith("https://weather.example/");
    await vi.waitFor(() => expect(w.indexedDB.deleteDatabase).toHaveBeenCalledWith("old"));
    await vi.waitFor(() => expect(w.caches.delete).toHaveBeenCalledWith("v1"));
  });

  it("still leaves when a wiper or storage throws", () => {
    const { w, replace } = fakeWindow();
    onQuickExit(() => {
      throw new Error("socket already closed");
    });
    const broken = {
      ...w,
      localStorage: {
        clear() {
          throw new DOMException("SecurityError");
        },
      },
    };
    quickExit(broken as unknown as ExitWindow, "https://weather.example/");
    expect(replace).toHaveBeenCalledOnce();
  });

  it("wipes storage even without optional APIs", () => {
    const { w } = fakeWindow();
    w.localStorage.setItem("x", "y");
    const minimal = { location: w.location, document: w.document, localStorage: w.localStorage };
    wipeStorage(minimal as unknown as ExitWindow);
    expect(w.localStorage.length).toBe(0);
  });
});

describe("Escape twice", () => {
  const esc = { key: "Escape" };

  it("fires on a second Escape within the window, once", () => {
    const d = new EscapeTwice(1500);
    expect(d.press(esc, 1000)).toBe(false);
    expect(d.press(esc, 2400)).toBe(true);
    expect(d.press(esc, 2500)).toBe(false); // a third press starts over
  });

  it("does not fire for presses too far apart, other keys, repeats or IME composition", () => {
    const d = new EscapeTwice(1500);
    expect(d.press(esc, 0)).toBe(false);
    expect(d.press(esc, 1600)).toBe(false);
    expect(d.press({ key: "Escape", repeat: true }, 1700)).toBe(false);
    expect(d.press({ key: "Escape", isComposing: true }, 1800)).toBe(false);
    expect(d.press({ key: "Enter" }, 1900)).toBe(false);
    expect(d.press({ key: "Esc" }, 2000)).toBe(true); // old browsers' name for it
  });
});
