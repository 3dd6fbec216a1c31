// Getting a counsellor's attention: desktop notifications (Notification
// API) for offers, SOS and escalations, and a counter in the tab title
// while the tab is hidden. Nothing of a conversation's content goes into
// either: a notification can show on a locked screen.

/** The part of the Notification API the console uses (a wrapper in tests). */
export interface NotificationApi {
  readonly permission: NotificationPermission;
  requestPermission(): Promise<NotificationPermission>;
  new (title: string, options?: NotificationOptions): Pick<Notification, "onclick" | "close">;
}

export class DesktopNotifier {
  private asked = false;

  constructor(
    private readonly api: NotificationApi | undefined = typeof Notification === "undefined" ? undefined : Notification,
    private readonly focus: () => void = () => window.focus(),
  ) {}

  /**
   * Ask for permission once, on the first clock-in of this page. Called
   * from the click itself: browsers only ask during a user gesture.
   */
  askOnce(): void {
    if (this.asked || this.api === undefined) return;
    this.asked = true;
    if (this.api.permission === "default") void this.api.requestPermission().catch(() => undefined);
  }

  /** Show one (same `tag`: replaces the last of its kind). False when not allowed or not supported. */
  show(title: string, body: string, tag: string): boolean {
    if (this.api === undefined || this.api.permission !== "granted") return false;
    try {
      const n = new this.api(title, { body, tag, requireInteraction: tag !== "offer" });
      n.onclick = () => {
        this.focus();
        n.close();
      };
      return true;
    } catch {
      // Some browsers allow notifications only from a service worker: the title and chime still say it.
      return false;
    }
  }
}

/** "(2) New chat offer · Parasol console" while the tab is hidden; the plain title when it is seen. */
export class TitleCounter {
  private unseen = 0;

  constructor(
    private readonly doc: { title: string; readonly hidden: boolean },
    private readonly base: string = doc.title,
  ) {}

  /** Something happened: counted only while nobody is looking at the tab. */
  bump(what?: string): void {
    if (!this.doc.hidden) return;
    this.unseen += 1;
    this.doc.title = what === undefined ? `(${this.unseen}) ${this.base}` : `(${this.unseen}) ${what} · ${this.base}`;
  }

  /** The tab is seen again. */
  seen(): void {
    if (this.doc.hidden) return;
    this.unseen = 0;
    this.doc.title = this.base;
  }

  get count(): number {
    return this.unseen;
  }
}
