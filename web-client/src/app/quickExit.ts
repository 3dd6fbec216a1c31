// Quick exit: leave at once and leave nothing behind.
//
// The page hides itself, every registered holder of secrets (the MLS client,
// the socket) wipes itself, any storage of this origin is cleared, and the
// page is replaced by a neutral site with location.replace, so the chat is
// not one Back press away. The app keeps nothing in storage in the first
// place; clearing it anyway covers anything a browser extension or an older
// version may have left.

type Wiper = () => void;

const wipers = new Set<Wiper>();

/** Register something to wipe on quick exit. Returns the unregister function. */
export function onQuickExit(wipe: Wiper): () => void {
  wipers.add(wipe);
  return () => wipers.delete(wipe);
}

/** The parts of `window` quick exit touches (a fake in unit tests). */
export interface ExitWindow {
  location: { replace(url: string): void };
  document: {
    cookie: string;
    title: string;
    body: { replaceChildren(): void } | null;
  };
  localStorage?: Storage;
  sessionStorage?: Storage;
  indexedDB?: Pick<IDBFactory, "databases" | "deleteDatabase">;
  caches?: Pick<CacheStorage, "keys" | "delete">;
  navigator?: { serviceWorker?: Pick<ServiceWorkerContainer, "getRegistrations"> };
}

function attempt(f: () => void): void {
  try {
    f();
  } catch {
    // Keep going: leaving matters more than any one clean-up step.
  }
}

/** Clear this origin's storage. The synchronous parts finish before it returns. */
export function wipeStorage(w: ExitWindow): void {
  attempt(() => w.localStorage?.clear());
  attempt(() => w.sessionStorage?.clear());
  attempt(() => {
    for (const pair of w.document.cookie.split(";")) {
      const name = pair.split("=")[0]?.trim();
      if (name) w.document.cookie = `${name}=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/`;
    }
  });
  // Asynchronous stores: started now, best effort (the app never uses them).
  attempt(() => {
    void w.indexedDB
      ?.databases()
      .then((dbs) => dbs.forEach((db) => db.name && w.indexedDB?.deleteDatabase(db.name)))
      .catch(() => {});
  });
  attempt(() => {
    void w.caches
      ?.keys()
      .then((keys) => keys.forEach((k) => void w.caches?.delete(k)))
      .catch(() => {});
  });
  attempt(() => {
    void w.navigator?.serviceWorker
      ?.getRegistrations()
      .then((regs) => regs.forEach((r) => void r.unregister()))
      .catch(() => {});
  });
}

/** Leave now. Never throws, and always ends with the neutral page. */
export function quickExit(w: ExitWindow, exitUrl: string): void {
  attempt(() => w.document.body?.replaceChildren());
  attempt(() => {
    w.document.title = "";
  });
  for (const wipe of wipers) attempt(wipe);
  wipers.clear();
  wipeStorage(w);
  w.location.replace(exitUrl);
}

/** Escape pressed twice within this many milliseconds triggers quick exit. */
export const ESCAPE_TWICE_WINDOW_MS = 1500;

/** Tells a double Escape apart from a single one (or from a held-down key). */
export class EscapeTwice {
  private last = Number.NEGATIVE_INFINITY;

  constructor(private readonly windowMs = ESCAPE_TWICE_WINDOW_MS) {}

  /** Feed a keydown; true when it completes a double Escape. */
  press(event: { key: string; repeat?: boolean; isComposing?: boolean }, now: number): boolean {
    if (event.key !== "Escape" && event.key !== "Esc") {
      return false;
    }
    // An IME uses Escape to cancel composition; a held key auto-repeats.
    if (event.isComposing || event.repeat) return false;
    if (now - this.last <= this.windowMs) {
      this.last = Number.NEGATIVE_INFINITY;
      return true;
    }
    this.last = now;
    return false;
  }
}

/** Listen for Escape twice on `target` (capturing, so no widget can swallow it). */
export function installEscapeTwice(target: Pick<Window, "addEventListener" | "removeEventListener">, onExit: () => void): () => void {
  const detector = new EscapeTwice();
  const listener = (event: KeyboardEvent) => {
    if (detector.press(event, event.timeStamp)) onExit();
  };
  target.addEventListener("keydown", listener, { capture: true });
  return () => target.removeEventListener("keydown", listener, { capture: true });
}
