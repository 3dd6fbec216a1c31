// One authenticated connection plus the MLS state of one identity: reads
// the mailbox in order (subscribe, process, ack), sends commits and
// application messages, and retries both after a lost epoch once the
// mailbox has caught up. Used by the visitor page and the console alike;
// it knows nothing of tickets or screens.
//
// Every touch of MLS state goes through `exclusive`: ts-mls state is
// immutable and MlsClient swaps it after each await, so two interleaved
// operations on one group would lose a ratchet step (and reuse a key).

import { type CommitBundle, MlsClient, type MlsEvent } from "../mls";
import type { Envelope } from "../protocol";
import { Connection, type Push, ServerError } from "../net/connection";

/** Attempts of a commit or message that lost its epoch to someone else's commit. */
const MAX_ATTEMPTS = 4;
/** How long a retry waits for the mailbox to reach the server's epoch. */
const CATCH_UP_MS = 10_000;
/** Ack after this many processed envelopes (and whenever the mailbox goes quiet). */
const ACK_EVERY = 16;

export type SessionListener = (event: MlsEvent, envelope: Envelope) => void;

/**
 * What a session with durable state (the staff console's vault) does before
 * the server may forget something: save before an ack, and save a group
 * whose state moved before the message or commit that moved it goes out.
 * A hook that throws stops the ack (or the send).
 */
export interface PersistHooks {
  /** Before acking the envelopes up to `upTo`. */
  beforeAck(upTo: number): Promise<void>;
  /** After my state of `groupId` changed by my own doing (a message encrypted, a commit merged). */
  groupChanged(groupId: Uint8Array): Promise<void>;
}

export class MailboxSession {
  private lock: Promise<unknown> = Promise.resolve();
  private incoming: Envelope[] = [];
  private draining = false;
  private processedUpTo = 0;
  private ackedUpTo = 0;
  private epochWaiters: Array<() => void> = [];
  private closed = false;
  /** Set by a caller whose state outlives the page (the console's vault). */
  persist: PersistHooks | undefined;

  constructor(
    public connection: Connection,
    readonly mls: MlsClient,
    private readonly onEvent: SessionListener,
    private readonly onProblem: (what: string) => void = () => {},
  ) {}

  /** Start reading the mailbox after `after` (0 for a fresh identity). */
  async subscribe(after: number): Promise<void> {
    this.processedUpTo = after;
    this.ackedUpTo = after;
    await this.connection.request({ op: "subscribe", after });
  }

  /**
   * The socket dropped and a new one authenticated with the same identity:
   * carry on reading the mailbox where this session stopped. `serverHead`
   * is the `mailbox_head` of the new `authenticated`: if it is below what
   * this session processed, the server lost the envelopes above it (a
   * damaged or restored data directory) and reuses their seqs, so the
   * session resynchronises to it (and says so) instead of dropping every
   * new envelope as already seen.
   */
  async reconnected(connection: Connection, serverHead: number): Promise<void> {
    this.connection = connection;
    if (serverHead < this.processedUpTo) {
      this.onProblem(
        `the server's mailbox ends at ${serverHead}, below the ${this.processedUpTo} already read: resynchronised to it`,
      );
      this.processedUpTo = serverHead;
      this.incoming = []; // read before the loss; their seqs are handed out again
    }
    await this.subscribe(this.processedUpTo);
  }

  /** Feed every push here; envelopes are processed, the rest is ignored. */
  push(push: Push): void {
    if (push.type !== "envelope" || this.closed) return;
    if (push.envelope.seq <= this.processedUpTo) return;
    this.incoming.push(push.envelope);
    void this.drain();
  }

  /** Run `fn` alone with the MLS state. */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => undefined);
    return run;
  }

  private async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    try {
      while (this.incoming.length > 0 && !this.closed) {
        const envelope = this.incoming.shift() as Envelope;
        await this.exclusive(async () => {
          try {
            const event = await this.mls.processEnvelope(envelope);
            this.onEvent(event, envelope);
          } catch (e) {
            // The cursor moves on regardless; never log content.
            this.onProblem(`envelope ${envelope.seq} (${envelope.kind}) could not be processed: ${(e as Error).name}`);
          }
        });
        this.processedUpTo = envelope.seq;
        this.wakeEpochWaiters();
        if (this.processedUpTo - this.ackedUpTo >= ACK_EVERY || this.incoming.length === 0) await this.ack();
      }
    } finally {
      this.draining = false;
    }
  }

  /** The last envelope processed. */
  get cursor(): number {
    return this.processedUpTo;
  }

  private async ack(): Promise<void> {
    const upTo = this.processedUpTo;
    // Closed by the envelope just processed (removed from a circle): its socket is closing.
    if (this.closed || upTo <= this.ackedUpTo) return;
    if (this.persist !== undefined) {
      try {
        await this.persist.beforeAck(upTo);
      } catch {
        // Not saved: not acked, so the server keeps these envelopes.
        return;
      }
    }
    this.ackedUpTo = upTo;
    try {
      await this.connection.request({ op: "ack", up_to: upTo });
    } catch {
      // An unacked envelope comes again and is skipped as already seen.
    }
  }

  private wakeEpochWaiters(): void {
    const waiters = this.epochWaiters;
    this.epochWaiters = [];
    for (const wake of waiters) wake();
  }

  /** Resolves once my state of `groupId` is at `epoch` or past it (or the wait times out). */
  private async reachEpoch(groupId: Uint8Array, epoch: number): Promise<boolean> {
    const deadline = Date.now() + CATCH_UP_MS;
    while (Date.now() < deadline) {
      if (this.mls.hasGroup(groupId) && this.mls.epoch(groupId) >= epoch) return true;
      await new Promise<void>((resolve) => {
        this.epochWaiters.push(resolve);
        setTimeout(resolve, 250);
      });
    }
    return false;
  }

  /** Resolves once I am a member of `groupId` (joined by Welcome), or false after `timeoutMs`. */
  async waitForGroup(groupId: Uint8Array, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.mls.hasGroup(groupId)) {
      if (Date.now() >= deadline || this.closed) return false;
      await new Promise<void>((resolve) => {
        this.epochWaiters.push(resolve);
        setTimeout(resolve, 250);
      });
    }
    return true;
  }

  /**
   * Make a commit with `build` and send it; on `stale_epoch` wait for the
   * mailbox to catch up and build it again. Returns the new epoch, or
   * undefined when `build` found nothing to do.
   */
  async commit(groupId: Uint8Array, build: () => Promise<CommitBundle | undefined>): Promise<number | undefined> {
    for (let attempt = 1; ; attempt++) {
      const bundle = await this.exclusive(build);
      if (bundle === undefined) return undefined;
      try {
        const req: { op: "send_commit"; commit: Uint8Array; welcome?: Uint8Array; ratchet_tree?: Uint8Array } = {
          op: "send_commit",
          commit: bundle.commit,
        };
        if (bundle.welcome !== undefined) req.welcome = bundle.welcome;
        if (bundle.ratchetTree !== undefined) req.ratchet_tree = bundle.ratchetTree;
        const answer = await this.connection.request(req);
        if (answer.kind !== "commit_accepted") throw new Error(`unexpected answer ${answer.kind}`);
        const epoch = await this.exclusive(async () => this.mls.commitAccepted(groupId));
        await this.persist?.groupChanged(groupId).catch(() => undefined);
        return epoch;
      } catch (e) {
        await this.exclusive(async () => {
          if (this.mls.hasGroup(groupId) && this.mls.hasPendingCommit(groupId)) this.mls.commitRejected(groupId);
        });
        const stale = e instanceof ServerError && e.code === "stale_epoch";
        if (!stale || attempt >= MAX_ATTEMPTS) throw e;
        await this.reachEpoch(groupId, e.frame.current_epoch ?? bundle.epoch + 1);
      }
    }
  }

  /** Encrypt and send a text; retried after a lost epoch. Resolves when the server has it. */
  async sendText(groupId: Uint8Array, text: string): Promise<void> {
    return this.sendPlaintext(groupId, new TextEncoder().encode(text));
  }

  /**
   * An ephemeral signal (typing), encrypted like a message: best effort,
   * never retried, never kept by either side.
   */
  sendSignal(groupId: Uint8Array, signal: Uint8Array): void {
    if (!this.mls.hasGroup(groupId)) return;
    void this.exclusive(async () => this.mls.encrypt(groupId, signal))
      .then((message) => this.connection.request({ op: "send_message", message }))
      .catch(() => undefined);
  }

  private async sendPlaintext(groupId: Uint8Array, plaintext: Uint8Array): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const { message, epoch } = await this.exclusive(async () => ({
        epoch: this.mls.epoch(groupId),
        message: await this.mls.encrypt(groupId, plaintext),
      }));
      // Saved before it goes out: a restored state must never reuse this ratchet step.
      if (this.persist !== undefined) await this.persist.groupChanged(groupId);
      try {
        await this.connection.request({ op: "send_message", message });
        return;
      } catch (e) {
        const stale = e instanceof ServerError && e.code === "stale_epoch";
        if (!stale || attempt >= MAX_ATTEMPTS) throw e;
        await this.reachEpoch(groupId, e.frame.current_epoch ?? epoch + 1);
      }
    }
  }

  /** Create a group with me alone in it and register it with the server. */
  async createGroup(): Promise<Uint8Array> {
    const group = await this.exclusive(() => this.mls.createGroup());
    try {
      await this.connection.request({ op: "create_group", group_info: group.groupInfo, ratchet_tree: group.ratchetTree });
    } catch (e) {
      this.mls.discardGroup(group.groupId);
      throw e;
    }
    return group.groupId;
  }

  close(): void {
    this.closed = true;
    this.incoming = [];
    this.wakeEpochWaiters();
    this.connection.close();
  }
}

/** Decode a text message; undefined for bytes that are not UTF-8. */
export function decodeText(plaintext: Uint8Array): string | undefined {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(plaintext);
  } catch {
    return undefined;
  }
}
