// The console's state in the staff vault (./vault.ts, SECURITY.md "Staff
// state vault"): the one MLS identity with its newest key packages, every
// group's state with its conversation (bounded history), the mailbox cursor
// and the shift. A group is saved before the envelopes that changed it are
// acked, and before a message that moved its ratchet goes out. Another
// login taking the vault stops this console at once.

import { ct } from "../i18n/console";
import type { ExportedKeyPackage, MlsEvent } from "../mls";
import { CLOSE, type QueueEntry, type ShiftState } from "../protocol";
import { hex } from "../util/hex";
import { type Conversation, type ConsoleCore, type ConsoleStore, MAX_LINES, type StaffLine } from "./core";
import { type Vault, decodeItem, groupSlot, isVaultMoved } from "./vault";

/** A conversation's history in the vault: at most this many bytes of text (and MAX_LINES lines). */
export const MAX_SAVED_HISTORY_BYTES = 384 * 1024;
/** Key packages whose private keys the vault keeps (newest), for Welcomes still on their way. */
const MAX_SAVED_KEY_PACKAGES = 200;
/** Shown when another login took the vault (409 vault_moved) or the socket (CLOSE.REPLACED); in English (`ct("login.moved")` on screen). */
export const MOVED_NOTICE =
  "This console was opened on another computer or tab, so it stopped here. Log in again to continue here.";

/** The vault's `identity` item. */
export interface SavedIdentity {
  v: 1;
  secret: Uint8Array;
  key_packages: ExportedKeyPackage[];
}

/** A conversation as the vault keeps it beside its group's state. */
interface SavedConversation {
  kind: Conversation["kind"];
  ticket?: QueueEntry;
  title: string;
  lines: StaffLine[];
  joined: boolean;
  names: Array<[string, string]>;
}

/** A `g-…` item. */
export interface SavedGroup {
  v: 1;
  group_id: Uint8Array;
  state: Uint8Array;
  conversation?: SavedConversation;
}

/** The `console` item. */
export interface SavedConsole {
  v: 1;
  /** The mailbox is acked up to here. */
  cursor: number;
  /** The shift I chose last, taken up again after a reload (as after a dropped socket). */
  shift?: ShiftState;
}

/** The identity a vault holds, if it holds a usable one. */
export function savedIdentity(vault: Vault | undefined): SavedIdentity | undefined {
  const bytes = vault?.items.get("identity");
  if (bytes === undefined) return undefined;
  try {
    const saved = decodeItem<SavedIdentity>(bytes);
    return saved.v === 1 && saved.secret instanceof Uint8Array && saved.secret.length === 32 ? saved : undefined;
  } catch {
    return undefined;
  }
}

/** The last lines of a conversation that fit the vault's bounds. */
export function savedLines(lines: StaffLine[]): StaffLine[] {
  let kept = lines.slice(-MAX_LINES);
  let bytes = kept.reduce((n, l) => n + l.text.length * 3 + 64, 0);
  while (bytes > MAX_SAVED_HISTORY_BYTES && kept.length > 0) {
    bytes -= (kept[0] as StaffLine).text.length * 3 + 64;
    kept = kept.slice(1);
  }
  return kept;
}

export class Persistence implements ConsoleStore {
  /** Groups (hex id) changed by incoming envelopes since the last save. */
  private readonly unsaved = new Set<string>();
  private identityUnsaved = false;
  /** What the `console` item holds. */
  saved: SavedConsole = { v: 1, cursor: 0 };
  /** Another login took the vault: nothing is saved or acked any more. */
  private moved = false;

  constructor(
    private readonly core: ConsoleCore,
    private vault: Vault | undefined,
  ) {}

  get persistent(): boolean {
    return this.vault !== undefined;
  }

  /** Bring back every group the vault holds; returns the saved mailbox cursor. */
  restoreGroups(): number | undefined {
    const vault = this.vault;
    if (vault === undefined) return undefined;
    let cursor: number | undefined;
    for (const [slot, bytes] of vault.items) {
      try {
        if (slot === "console") {
          const saved = decodeItem<SavedConsole>(bytes);
          if (saved.v === 1 && Number.isSafeInteger(saved.cursor)) cursor = saved.cursor;
          if (saved.shift === "available" || saved.shift === "on_break") this.saved.shift = saved.shift;
          continue;
        }
        if (!slot.startsWith("g-")) continue;
        const saved = decodeItem<SavedGroup>(bytes);
        if (saved.v !== 1) continue;
        const groupId = this.core.mls.importGroup(saved.state);
        const c = saved.conversation;
        if (c === undefined) continue;
        const conversation: Conversation = {
          groupId,
          kind: c.kind,
          title: c.title,
          lines: c.lines,
          unread: 0,
          joined: c.joined,
          ended: false,
          names: new Map(c.names),
        };
        if (c.ticket !== undefined) conversation.ticket = c.ticket;
        this.core.conversations.set(hex(groupId), conversation);
        for (const line of c.lines) this.core.sawLine(line.id);
      } catch {
        // An item that does not decode is skipped; the safety net brings a lost chat back.
      }
    }
    this.saved = { ...this.saved, cursor: cursor ?? 0 };
    return cursor;
  }

  /** An MLS event changed a group (or used a key package): saved before the ack that lets the server forget it. */
  noteEvent(event: MlsEvent): void {
    if (event.kind !== "skipped") this.unsaved.add(hex(event.groupId));
    if (event.kind === "joined") this.identityUnsaved = true;
  }

  /** The vault's `identity` item: the key and the private parts of my newest key packages. */
  async saveIdentity(): Promise<void> {
    if (this.vault === undefined) return;
    const mls = this.core.mls;
    const item: SavedIdentity = {
      v: 1,
      secret: mls.identity.exportSecret(),
      key_packages: mls.exportKeyPackages().slice(-MAX_SAVED_KEY_PACKAGES),
    };
    this.identityUnsaved = false;
    await this.guard(this.vault.put("identity", item));
  }

  /** Save one group's state and its conversation (bounded history). */
  async saveGroup(key: string): Promise<void> {
    if (this.vault === undefined) return;
    this.unsaved.delete(key);
    const mls = this.core.mls;
    const c = this.core.conversations.get(key);
    const groupId = c?.groupId ?? mls.groupIds().find((g) => hex(g) === key);
    if (groupId === undefined) return;
    if (!mls.hasGroup(groupId)) {
      await this.guard(this.vault.remove(groupSlot(groupId)));
      return;
    }
    const item: SavedGroup = { v: 1, group_id: groupId, state: mls.exportGroup(groupId) };
    if (c !== undefined && !c.ended) {
      // A message still on its way when saved counts as sent once restored
      // only if it went out; "sending" is kept as it is.
      item.conversation = {
        kind: c.kind,
        title: c.title,
        lines: savedLines(c.lines),
        joined: c.joined,
        names: [...c.names],
      };
      if (c.ticket !== undefined) item.conversation.ticket = c.ticket;
    }
    await this.guard(this.vault.put(groupSlot(groupId), item));
  }

  /** Before an ack: every group an envelope changed, the identity if a Welcome used a key package, and the cursor. */
  async saveBeforeAck(upTo: number): Promise<void> {
    if (this.vault === undefined) return;
    if (this.moved) throw new Error("moved");
    for (const key of [...this.unsaved]) await this.saveGroup(key);
    if (this.identityUnsaved) await this.saveIdentity();
    this.saved = { ...this.saved, cursor: upTo };
    await this.guard(this.vault.put("console", this.saved));
  }

  saveConversation(c: Conversation): void {
    if (this.vault === undefined || this.moved) return;
    void this.saveGroup(hex(c.groupId)).catch(() => undefined);
  }

  saveShift(shift: ShiftState): void {
    if (this.vault === undefined || this.moved) return;
    this.saved = { ...this.saved, shift };
    void this.guard(this.vault.put("console", this.saved)).catch(() => undefined);
  }

  forgetGroup(groupId: Uint8Array): void {
    if (this.vault === undefined || this.moved) return;
    void this.guard(this.vault.remove(groupSlot(groupId))).catch(() => undefined);
  }

  /** A vault write; `vault_moved` stops this console. */
  private async guard(write: Promise<void>): Promise<void> {
    try {
      await write;
    } catch (e) {
      if (isVaultMoved(e)) this.stopMoved();
      throw e;
    }
  }

  /** Another login opened the vault (or took the socket): stop at once, save and ack nothing more, and say so. */
  stopMoved(): void {
    if (this.moved) return;
    this.moved = true;
    this.core.loggedOut = true;
    this.core.update({ problem: ct("login.moved"), connected: false });
    this.core.session?.close();
    this.core.events.closed?.(CLOSE.REPLACED);
  }

  /** Logged out: the vault closes with the page's keys. */
  close(): void {
    this.vault?.close();
    this.vault = undefined;
  }
}
