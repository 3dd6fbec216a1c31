import { describe, expect, it } from "vitest";

import { DesktopNotifier, type NotificationApi, TitleCounter } from "./notify";

function fakeApi(permission: NotificationPermission) {
  const shown: Array<{ title: string; options: NotificationOptions | undefined }> = [];
  let asked = 0;
  const api = class {
    static permission = permission;
    static requestPermission() {
      asked += 1;
      return Promise.resolve<NotificationPermission>("granted");
    }
    onclick: ((ev: Event) => unknown) | null = null;
    constructor(title: string, options?: NotificationOptions) {
      shown.push({ title, options });
    }
    close() {}
  };
  return { api: api as unknown as NotificationApi, shown, asked: () => asked };
}

describe("desktop notifications", () => {
  it("asks once, and only while the browser has not been answered", () => {
    const fresh = fakeApi("default");
    const n = new DesktopNotifier(fresh.api, () => {});
    n.askOnce();
    n.askOnce();
    expect(fresh.asked()).toBe(1);
    const refused = fakeApi("denied");
    new DesktopNotifier(refused.api, () => {}).askOnce();
    expect(refused.asked()).toBe(0);
  });

  it("shows only with permission, tagged so a newer one replaces the last of its kind", () => {
    const granted = fakeApi("granted");
    expect(new DesktopNotifier(granted.api, () => {}).show("New chat offer", "Health · Macedonian", "offer")).toBe(true);
    expect(granted.shown).toEqual([{ title: "New chat offer", options: { body: "Health · Macedonian", tag: "offer", requireInteraction: false } }]);
    const denied = fakeApi("denied");
    expect(new DesktopNotifier(denied.api, () => {}).show("SOS", "x", "sos")).toBe(false);
    expect(denied.shown).toEqual([]);
    expect(new DesktopNotifier(undefined, () => {}).show("SOS", "x", "sos")).toBe(false);
  });
});

describe("the title counter", () => {
  it("counts only while the tab is hidden, and goes back when seen", () => {
    const doc = { title: "Console", hidden: false };
    const counter = new TitleCounter(doc);
    counter.bump("New chat offer");
    expect(doc.title).toBe("Console");
    doc.hidden = true;
    counter.bump("New chat offer");
    counter.bump();
    expect(doc.title).toBe("(2) Console");
    counter.seen();
    expect(doc.title).toBe("(2) Console");
    doc.hidden = false;
    counter.seen();
    expect(doc.title).toBe("Console");
    expect(counter.count).toBe(0);
  });
});
