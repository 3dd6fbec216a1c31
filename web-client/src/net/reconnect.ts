// Getting a dropped socket back, for the visitor page and the console alike.
// What to do after a close follows the protocol's close codes (CLOSE and
// shouldReconnect in protocol/close.ts, PROTOCOL.md "WebSocket close codes");
// the retry loop waits 0.5 s, then twice as long each time up to 15 s.

import { CLOSE, shouldReconnect } from "../protocol";

/** First wait before reconnecting a dropped socket; doubles up to RECONNECT_MAX_MS. */
export const RECONNECT_FIRST_MS = 500;
export const RECONNECT_MAX_MS = 15_000;

/**
 * What a client does after the server closed its socket with `code`:
 * `replaced` another connection with the same key took over (never come
 * back by itself), `session_ended` the staff session is over (log in
 * again), `stop` the server refused this client (no point retrying), or
 * `reconnect`.
 */
export type AfterClose = "reconnect" | "replaced" | "session_ended" | "stop";

export function afterClose(code: number): AfterClose {
  if (code === CLOSE.REPLACED) return "replaced";
  if (code === CLOSE.SESSION_ENDED) return "session_ended";
  return shouldReconnect(code) ? "reconnect" : "stop";
}

/** The waits between attempts, in ms: RECONNECT_FIRST_MS doubling up to RECONNECT_MAX_MS. */
export function backoff(attempt: number, firstMs = RECONNECT_FIRST_MS, maxMs = RECONNECT_MAX_MS): number {
  return Math.min(firstMs * 2 ** Math.min(attempt, 30), maxMs);
}

export interface ReconnectPlan {
  /** One attempt: resolves once the new socket is authenticated and caught up; throws to try again. */
  attempt(): Promise<void>;
  /** The page gave up the connection (closed by the visitor, logged out): stop quietly. */
  stopped(): boolean;
  /** A failed attempt after which trying again is useless (the session is gone). */
  fatal?(error: unknown): boolean;
  /** Stop trying at this time (ms since the epoch, as `now`). */
  deadline?: number;
}

export type ReconnectOutcome =
  | { kind: "connected" }
  | { kind: "stopped" }
  | { kind: "expired" }
  | { kind: "fatal"; error: unknown };

/** Clock and timer, replaceable in tests. */
export interface ReconnectClock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

const realClock: ReconnectClock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/** One reconnect loop at a time per connection. */
export class Reconnector {
  private running = false;

  constructor(private readonly clock: ReconnectClock = realClock) {}

  /** A loop is under way (the page shows "reconnecting"). */
  get active(): boolean {
    return this.running;
  }

  /**
   * Start trying to get the connection back, unless a loop is already
   * under way (then undefined). `active` is true from this call until the
   * outcome resolves.
   */
  run(plan: ReconnectPlan): Promise<ReconnectOutcome> | undefined {
    if (this.running) return undefined;
    this.running = true;
    return this.loop(plan).finally(() => {
      this.running = false;
    });
  }

  private async loop(plan: ReconnectPlan): Promise<ReconnectOutcome> {
    const deadline = plan.deadline ?? Number.POSITIVE_INFINITY;
    for (let n = 0; this.clock.now() < deadline && !plan.stopped(); n += 1) {
      await this.clock.sleep(backoff(n));
      if (plan.stopped()) return { kind: "stopped" };
      try {
        await plan.attempt();
        return { kind: "connected" };
      } catch (error) {
        if (plan.fatal?.(error) === true) return { kind: "fatal", error };
      }
    }
    return plan.stopped() ? { kind: "stopped" } : { kind: "expired" };
  }
}
