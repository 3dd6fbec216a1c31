// The counsellor's side of the intake, in the browser (client/src/intake.rs
// does the same in Rust): log in over HTTPS, bind a fresh key to the
// session, keep key packages stocked, set the shift, see the queue and the
// offers, open chats (create the group, attach it, add the visitor), hold
// several at once, transfer with a sealed note, close, block; and the
// intake's duties: remove the colleague I replace once I am in, re-add a
// visitor who came back with a new key.
//
// Reload policy: the console's one MLS identity, every group's state and
// each conversation's history are sealed into the staff vault (./vault.ts,
// SECURITY.md "Staff state vault"), never into browser storage. After a
// reload or a login on another computer the console opens the vault,
// restores them, authenticates with the same key and reads the mailbox on
// from its last ack. A group is saved before the envelopes that changed it
// are acked, and before a message that moved its ratchet goes out. Logout
// drops the key and every plaintext with the page's memory.
//
// Escalation to the crisis line (PROTOCOL.md): the counsellor signs and
// sends `escalate`, adds the responder the server names after checking the
// badge, and may hand the chat off; crisis responders go on duty, see the
// queue (each request checked against the counsellor's badge), accept, and
// join the chat by its Welcome.

import { MailboxSession, decodeText } from "../chat/session";
import { type ExportedKeyPackage } from "../mls";
import { TYPING_IDLE_MS, TypingSender, TypingWatch, typingSignal } from "../chat/typing";
import { Identity, MlsClient, type MlsEvent, equalBytes } from "../mls";
import {
  type BoardRow,
  type Category,
  type CircleInfo,
  type InvitationState,
  type JoinRequest,
  type CrisisLine,
  type DutyState,
  type EscalationEntry,
  type EscalationOutcome,
  type Severity,
  type QueueEntry,
  type Response,
  type ShiftState,
  type StaffBadge,
  type StaffSelf,
  type StrandedChat,
  type TeamMessage,
  type VisitorPresence,
  CLOSE,
  verifyBadge,
} from "../protocol";
import { Connection, ConnectionClosed, type Push, ServerError, type SocketLike } from "../net/connection";
import { Reconnector, afterClose } from "../net/reconnect";
import { decodeCircleText, encodeCircleText } from "../visitor/circle";
import { CATEGORY_LABELS, type EscalationCheck, checkEscalation, escalationStatusText, responderKey } from "./escalations";
import { presenceLine } from "./presence";
import { type Vault, decodeItem, groupSlot, isVaultMoved } from "./vault";
import { hex, hexBytes } from "../util/hex";

/** One-time key packages kept on the server (for transfers, notes, team messages and peer groups). */
export const KEY_PACKAGE_STOCK = 10;
/** Top up when the server says fewer than this are left. */
const KEY_PACKAGE_LOW = 4;
/** Lines kept per chat on screen. */
const MAX_LINES = 1000;
/** How long a duty waits for the Welcome that makes me a member. */
const JOIN_WAIT_MS = 60_000;
/** A conversation's history in the vault: at most this many bytes of text (and MAX_LINES lines). */
const MAX_SAVED_HISTORY_BYTES = 384 * 1024;
/** Key packages whose private keys the vault keeps (newest), for Welcomes still on their way. */
const MAX_SAVED_KEY_PACKAGES = 200;
/** Shown when another login took the vault (409 vault_moved) or the socket (CLOSE.REPLACED). */
export const MOVED_NOTICE =
  "This console was opened on another computer or tab, so it stopped here. Log in again to continue here.";

/** The vault's `identity` item. */
interface SavedIdentity {
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
interface SavedGroup {
  v: 1;
  group_id: Uint8Array;
  state: Uint8Array;
  conversation?: SavedConversation;
}

/** The `console` item. */
interface SavedConsole {
  v: 1;
  /** The mailbox is acked up to here. */
  cursor: number;
  /** The shift I chose last, taken up again after a reload (as after a dropped socket). */
  shift?: ShiftState;
}

export interface LoginAnswer {
  token: string;
  expires_at: number;
  account_id: number;
  role: string;
  display_name: string;
  languages: string[];
  max_concurrent_chats: number;
}

export class LoginError extends Error {
  override readonly name = "LoginError";
  constructor(
    readonly code: string,
    readonly retryAfterSecs?: number,
  ) {
    super(code);
  }
}

/** `POST /v1/staff/login`. Errors carry the server's code (`invalid_credentials`, `too_many_attempts`, …). */
export async function login(username: string, password: string, totp?: string): Promise<LoginAnswer> {
  const body: Record<string, string> = { username, password };
  if (totp) body.totp = totp;
  const res = await fetch("/v1/staff/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
    credentials: "omit",
    cache: "no-store",
  });
  if (!res.ok) {
    let code = `http_${res.status}`;
    try {
      code = ((await res.json()) as { error?: string }).error ?? code;
    } catch {
      // not JSON: keep the status
    }
    const retry = Number(res.headers.get("Retry-After"));
    throw new LoginError(code, Number.isFinite(retry) && retry > 0 ? retry : undefined);
  }
  return (await res.json()) as LoginAnswer;
}

/** `POST /v1/staff/logout`: ends the session (the socket closes with CLOSE.SESSION_ENDED). */
export async function logout(token: string): Promise<void> {
  await fetch("/v1/staff/logout", {
    method: "POST",
    headers: { Authorization: `Bearer ${token}` },
    credentials: "omit",
    cache: "no-store",
  }).catch(() => undefined);
}

export type StaffLine =
  | { kind: "mine"; id: number; text: string; delivery: "sending" | "sent" | "failed" }
  | { kind: "theirs"; id: number; text: string; from: string }
  | { kind: "system"; id: number; text: string };

/** A conversation in the console: a visitor's chat, a hand-over note, a team message or a peer group. */
export interface Conversation {
  groupId: Uint8Array;
  kind: "chat" | "note" | "team" | "peer" | "circle";
  /** The ticket, for chats. */
  ticket?: QueueEntry;
  title: string;
  lines: StaffLine[];
  unread: number;
  /** I am in the MLS group (the Welcome arrived, or I created it). */
  joined: boolean;
  ended: boolean;
  /** Names of members by key (hex), for their lines. */
  names: Map<string, string>;
  /** The chat's escalation to the crisis line, as the server last told it. */
  escalation?: EscalationEntry;
  /** The visitor pressed "I'm in danger now" in this chat. */
  sosAlert?: boolean;
  /** Chats: the visitor's connection as the server last told it (absent: here). */
  presence?: VisitorPresence;
  /** Chats: the visitor is writing now (an ephemeral signal, never a line). */
  visitorTyping?: boolean;
}

/** An escalation in a crisis responder's queue, with what the console made of its signature. */
export interface QueuedEscalation {
  entry: EscalationEntry;
  check: EscalationCheck;
}

export interface Offer {
  ticket: QueueEntry;
  expiresAt: number;
}

/** A circle I moderate, as the console shows it. Codes live only in this page's memory. */
export interface CircleView {
  info: CircleInfo;
  invitations: InvitationState[];
  requests: JoinRequest[];
  /** Members by key (hex): the name they asked to join with, and whether muted. */
  members: Array<{ key: string; name: string; muted: boolean }>;
}

export interface ConsoleState {
  me: StaffSelf;
  /** Peer support circles I moderate. */
  circles: CircleView[];
  shift: ShiftState;
  queue: QueueEntry[];
  queueDepth: number;
  offers: Offer[];
  conversations: Conversation[];
  teamMessages: TeamMessage[];
  closingTags: string[];
  connected: boolean;
  /** Crisis responders: on or off duty. */
  duty: DutyState;
  /** Crisis responders (on duty) and supervisors: escalations not yet final. */
  escalations: QueuedEscalation[];
  /** The last thing that went wrong, in words for the counsellor (no content). */
  problem?: string;
  /** Chats and keys are kept in the staff vault (they come back after a reload). */
  persistent?: boolean;
}

export interface ConsoleEvents {
  /** Something changed; re-render from `state`. */
  changed(state: ConsoleState): void;
  /** A new offer arrived (title and sound). */
  offered?(offer: Offer): void;
  /** Something urgent (an SOS in a chat, an escalation waiting): title and sound. */
  alerted?(what: string): void;
  /** A message arrived in a conversation that is not in view. */
  message?(conversation: Conversation): void;
  /** The socket closed for good; `code` is a CLOSE code (SESSION_ENDED: log in again). */
  closed?(code: number): void;
}

type Duty =
  | { kind: "remove_previous"; groupId: Uint8Array; previous: Uint8Array }
  | { kind: "readd"; groupId: Uint8Array; old: Uint8Array; keyPackage: Uint8Array }
  /** A staff account in the group was disabled or reset: remove its leaves (any member may). */
  | { kind: "remove_revoked"; groupId: Uint8Array; clients: Uint8Array[] };

export class StaffConsole {
  private session!: MailboxSession;
  private openSocket: (() => SocketLike) | undefined;
  private readonly reconnector = new Reconnector();
  private loggedOut = false;
  private attestationKey: Uint8Array | undefined;
  private nextLine = 1;
  private readonly conversations = new Map<string, Conversation>();
  state!: ConsoleState;
  /** The conversation on screen (its messages do not count as unread). */
  activeGroup: string | undefined;
  /** Where this console's state is sealed; undefined without a vault (state lives in the page only). */
  private vault: Vault | undefined;
  /** Groups (hex id) changed by incoming envelopes since the last save. */
  private readonly unsaved = new Set<string>();
  private identityUnsaved = false;
  /** What the `console` item holds. */
  private saved: SavedConsole = { v: 1, cursor: 0 };
  /** Another login took the vault: nothing is saved or acked any more. */
  private moved = false;

  private constructor(
    readonly mls: MlsClient,
    readonly token: string,
    private readonly events: ConsoleEvents,
  ) {}

  /**
   * Open the socket with this account's key bound to this session, and get
   * ready to work. With a vault: the key, groups and conversations it holds
   * come back, and the mailbox is read on from the last ack; an empty vault
   * gets a new key, saved before anything is published.
   */
  static async connect(
    socket: SocketLike,
    token: string,
    events: ConsoleEvents,
    openSocket?: () => SocketLike,
    vault?: Vault,
  ): Promise<StaffConsole> {
    const savedIdentity = StaffConsole.savedIdentity(vault);
    const mls = await MlsClient.create(
      savedIdentity === undefined ? Identity.generate() : Identity.fromSecret(savedIdentity.secret),
    );
    const console_ = new StaffConsole(mls, token, events);
    console_.openSocket = openSocket;
    console_.vault = vault;
    let cursor: number | undefined;
    if (vault !== undefined && savedIdentity !== undefined) {
      await mls.importKeyPackages(savedIdentity.key_packages).catch(() => undefined);
      cursor = console_.restoreGroups(vault);
      console_.saved = { ...console_.saved, cursor: cursor ?? 0 };
    }
    // The opened plaintexts are in the MLS client and the conversations now.
    vault?.forgetItems();
    const { connection, authenticated } = await console_.authenticate(socket);
    const me = authenticated.staff;
    if (me === undefined) throw new Error("the server did not open a staff session");
    console_.session = new MailboxSession(connection, mls, (event) => console_.mlsEvent(event), (what) =>
      console_.update({ problem: what }),
    );
    if (vault !== undefined) {
      console_.session.persist = {
        beforeAck: (upTo) => console_.saveBeforeAck(upTo),
        groupChanged: (groupId) => console_.saveGroup(hex(groupId)),
      };
    }
    console_.state = {
      me,
      shift: "clocked_in",
      queue: [],
      queueDepth: 0,
      offers: [],
      conversations: [...console_.conversations.values()],
      teamMessages: [],
      closingTags: [],
      connected: true,
      duty: "off_duty",
      escalations: [],
      circles: [],
      persistent: vault !== undefined,
    };
    // A restored key reads on from its last ack, or, never having acked
    // (no saved cursor: it went offline before anything reached it), from
    // the start of what is still kept: a Welcome left while it was away is
    // there. A new key starts at the head.
    const after = cursor === undefined ? 0 : Math.min(cursor, authenticated.mailbox_head);
    await console_.session.subscribe(savedIdentity === undefined ? authenticated.mailbox_head : after);
    const info = await connection.request({ op: "intake_info" });
    if (info.kind === "intake_info") {
      console_.attestationKey = info.attestation_key;
      console_.state.closingTags = info.closing_tags;
    }
    if (savedIdentity === undefined) {
      await console_.publishKeyPackages(KEY_PACKAGE_STOCK, true);
    } else {
      // The chats are back already; the stock is topped up behind them.
      void console_.publishKeyPackages(KEY_PACKAGE_STOCK, true).catch(() => undefined);
      const shift = console_.saved.shift;
      if (shift !== undefined) void console_.setShift(shift).catch(() => undefined);
      void console_.restoreCircles().catch(() => undefined);
    }
    return console_;
  }

  private static savedIdentity(vault: Vault | undefined): SavedIdentity | undefined {
    const bytes = vault?.items.get("identity");
    if (bytes === undefined) return undefined;
    try {
      const saved = decodeItem<SavedIdentity>(bytes);
      return saved.v === 1 && saved.secret instanceof Uint8Array && saved.secret.length === 32 ? saved : undefined;
    } catch {
      return undefined;
    }
  }

  /** Bring back every group the vault holds; returns the saved mailbox cursor. */
  private restoreGroups(vault: Vault): number | undefined {
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
        const groupId = this.mls.importGroup(saved.state);
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
        this.conversations.set(hex(groupId), conversation);
        for (const line of c.lines) this.nextLine = Math.max(this.nextLine, line.id + 1);
      } catch {
        // An item that does not decode is skipped; the safety net brings a lost chat back.
      }
    }
    return cursor;
  }

  /** The vault's `identity` item: the key and the private parts of my newest key packages. */
  private async saveIdentity(): Promise<void> {
    if (this.vault === undefined) return;
    const item: SavedIdentity = {
      v: 1,
      secret: this.mls.identity.exportSecret(),
      key_packages: this.mls.exportKeyPackages().slice(-MAX_SAVED_KEY_PACKAGES),
    };
    this.identityUnsaved = false;
    await this.guard(this.vault.put("identity", item));
  }

  /** Save one group's state and its conversation (bounded history). */
  private async saveGroup(key: string): Promise<void> {
    if (this.vault === undefined) return;
    this.unsaved.delete(key);
    const c = this.conversations.get(key);
    const groupId = c?.groupId ?? this.mls.groupIds().find((g) => hex(g) === key);
    if (groupId === undefined) return;
    if (!this.mls.hasGroup(groupId)) {
      await this.guard(this.vault.remove(groupSlot(groupId)));
      return;
    }
    const item: SavedGroup = { v: 1, group_id: groupId, state: this.mls.exportGroup(groupId) };
    if (c !== undefined && !c.ended) {
      let lines = c.lines.slice(-MAX_LINES);
      let bytes = lines.reduce((n, l) => n + l.text.length * 3 + 64, 0);
      while (bytes > MAX_SAVED_HISTORY_BYTES && lines.length > 0) {
        bytes -= (lines[0] as StaffLine).text.length * 3 + 64;
        lines = lines.slice(1);
      }
      // A message still on its way when saved counts as sent once restored
      // only if it went out; "sending" is kept as it is.
      item.conversation = {
        kind: c.kind,
        title: c.title,
        lines,
        joined: c.joined,
        names: [...c.names],
      };
      if (c.ticket !== undefined) item.conversation.ticket = c.ticket;
    }
    await this.guard(this.vault.put(groupSlot(groupId), item));
  }

  /** Before an ack: every group an envelope changed, the identity if a Welcome used a key package, and the cursor. */
  private async saveBeforeAck(upTo: number): Promise<void> {
    if (this.vault === undefined) return;
    if (this.moved) throw new Error("moved");
    for (const key of [...this.unsaved]) await this.saveGroup(key);
    if (this.identityUnsaved) await this.saveIdentity();
    this.saved = { ...this.saved, cursor: upTo };
    await this.guard(this.vault.put("console", this.saved));
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

  /** Another login opened the vault: stop at once, save and ack nothing more, and say so. */
  private stopMoved(): void {
    if (this.moved) return;
    this.moved = true;
    this.loggedOut = true;
    this.update({ problem: MOVED_NOTICE, connected: false });
    this.session?.close();
    this.events.closed?.(CLOSE.REPLACED);
  }

  /** Save a conversation's history after it changed (a line added). */
  private saveSoon(c: Conversation): void {
    if (this.vault === undefined || this.moved) return;
    void this.saveGroup(hex(c.groupId)).catch(() => undefined);
  }

  /** Authenticate a socket with this session's token and key. */
  private authenticate(socket: SocketLike) {
    return Connection.open(
      socket,
      (nonce) => ({ ...this.mls.identity.authenticate(nonce), method: "staff_session", token: this.token }),
      { onPush: (push) => this.push(push), onClose: (code) => this.dropped(code) },
    );
  }

  /**
   * The socket closed. Unless the session ended, another tab took over, the
   * server refused this console (net/reconnect.ts) or I logged out, get it
   * back with the same key: chats and their MLS state are still here, and
   * the mailbox carries on.
   */
  private dropped(code: number): void {
    if (this.state !== undefined) this.update({ connected: false });
    const after = afterClose(code);
    if (after === "replaced" && !this.loggedOut) {
      this.stopMoved();
      return;
    }
    const openSocket = this.openSocket;
    if (this.loggedOut || after !== "reconnect" || openSocket === undefined || this.state === undefined) {
      this.events.closed?.(code);
      return;
    }
    const outcome = this.reconnector.run({
      attempt: async () => {
        const { connection, authenticated } = await this.authenticate(openSocket());
        await this.session.reconnected(connection, authenticated.mailbox_head);
      },
      stopped: () => this.loggedOut,
      // The session is gone (ended, or it died with a --demo restart or a
      // reset while this console was away): back to the login.
      fatal: (e) =>
        (e instanceof ConnectionClosed && afterClose(e.code) === "session_ended") ||
        (e instanceof ServerError && e.code === "authentication_failed"),
    });
    void outcome?.then(async (o) => {
      if (o.kind === "fatal") {
        this.events.closed?.(CLOSE.SESSION_ENDED);
      } else if (o.kind === "connected") {
        this.update({ connected: true });
        if (this.state.shift !== "clocked_out") await this.setShift(this.state.shift).catch(() => undefined);
        if (this.state.duty === "on_duty") await this.setDuty("on_duty").catch(() => undefined);
      }
    });
  }

  get clientId(): Uint8Array {
    return this.mls.clientId;
  }

  private request(req: Parameters<Connection["request"]>[0]): Promise<Response> {
    return this.session.connection.request(req);
  }

  private update(patch: Partial<ConsoleState>): void {
    this.state = { ...this.state, ...patch, conversations: [...this.conversations.values()] };
    this.events.changed(this.state);
  }

  private async publishKeyPackages(count: number, replace: boolean): Promise<void> {
    const oneTime = await this.mls.createKeyPackages(count);
    const lastResort = replace ? await this.mls.createKeyPackages(1, { lastResort: true }) : [];
    // Their private keys are in the vault before anyone can claim them.
    await this.saveIdentity();
    const req: { op: "publish_key_packages"; key_packages: Uint8Array[]; replace?: boolean } = {
      op: "publish_key_packages",
      key_packages: [...oneTime, ...lastResort],
    };
    if (replace) req.replace = true;
    await this.request(req);
  }

  // --- shift and queue ------------------------------------------------------

  async setShift(state: ShiftState, handover = false): Promise<Extract<Response, { kind: "shift" }>> {
    const req: { op: "set_shift"; state: ShiftState; handover?: boolean } = { op: "set_shift", state };
    if (handover) req.handover = true;
    const answer = await this.request(req);
    if (answer.kind !== "shift") throw new Error(`unexpected answer ${answer.kind}`);
    this.update({ shift: answer.state });
    if (this.vault !== undefined && !this.moved) {
      this.saved = { ...this.saved, shift: answer.state };
      void this.guard(this.vault.put("console", this.saved)).catch(() => undefined);
    }
    if (state !== "clocked_out") await this.refreshQueue();
    return answer;
  }

  async refreshQueue(): Promise<void> {
    const answer = await this.request({ op: "queue_view" });
    if (answer.kind === "queue") this.update({ queue: answer.tickets, queueDepth: answer.tickets.length });
  }

  async board(): Promise<{ queueDepth: number; longestWaitSecs: number; staff: BoardRow[]; stranded: StrandedChat[]; openEscalations: number }> {
    const answer = await this.request({ op: "board" });
    if (answer.kind !== "board") throw new Error(`unexpected answer ${answer.kind}`);
    return {
      queueDepth: answer.queue_depth,
      longestWaitSecs: answer.longest_wait_secs,
      staff: answer.staff,
      stranded: answer.stranded ?? [],
      openEscalations: answer.open_escalations,
    };
  }

  /**
   * Supervisors: move a stranded chat to colleague `to`, or to me. The
   * visitor's device adds the new counsellor (`chat_assigned` follows for
   * them); answers their badge.
   */
  async rescueChat(groupId: Uint8Array, to?: number): Promise<StaffBadge> {
    const answer = await this.request(to === undefined ? { op: "rescue_chat", group_id: groupId } : { op: "rescue_chat", group_id: groupId, to });
    if (answer.kind !== "chat_rescued") throw new Error(`unexpected answer ${answer.kind}`);
    return answer.to;
  }

  async declineOffer(ticketId: number): Promise<void> {
    await this.request({ op: "decline_offer", ticket_id: ticketId });
    this.dropOffer(ticketId);
  }

  private dropOffer(ticketId: number): void {
    this.update({ offers: this.state.offers.filter((o) => o.ticket.ticket_id !== ticketId) });
  }

  /**
   * Take a ticket (an offer, or picked from the queue). A new chat: create
   * the group, attach it, add the visitor with the key package the server
   * hands over. A hand-over: the visitor's client adds me, then I remove
   * the colleague.
   */
  async accept(ticketId: number): Promise<Conversation> {
    const answer = await this.request({ op: "accept_ticket", ticket_id: ticketId });
    this.dropOffer(ticketId);
    if (answer.kind !== "ticket_accepted") throw new Error(`unexpected answer ${answer.kind}`);
    if (answer.key_package !== undefined) {
      const { keyPackage, owner } = await this.mls.parseKeyPackage(answer.key_package);
      const groupId = await this.session.createGroup();
      try {
        await this.request({ op: "attach_chat", ticket_id: ticketId, group_id: groupId });
      } catch (e) {
        this.mls.discardGroup(groupId);
        throw e;
      }
      const conversation = this.conversation(groupId, "chat", answer.ticket);
      conversation.joined = true;
      conversation.names.set(hex(owner), "");
      await this.session.commit(groupId, () => this.mls.commitAdd(groupId, [keyPackage]));
      this.system(conversation, "The visitor was added to the chat.");
      void this.refreshQueue();
      return conversation;
    }
    if (answer.group_id === undefined) throw new Error("an accepted ticket needs a key package or a group");
    const conversation = this.conversation(answer.group_id, "chat", answer.ticket);
    this.system(conversation, "Handed-over chat: waiting for the visitor's device to add you.");
    void this.refreshQueue();
    return conversation;
  }

  // --- conversations ----------------------------------------------------------

  private conversation(groupId: Uint8Array, kind: Conversation["kind"], ticket?: QueueEntry): Conversation {
    const key = hex(groupId);
    let c = this.conversations.get(key);
    if (c === undefined) {
      c = {
        groupId,
        kind,
        title: ticket !== undefined ? `#${ticket.ticket_id % 10000} · ${ticket.language} · ${ticket.topic}` : kind,
        lines: [],
        unread: 0,
        joined: this.mls.hasGroup(groupId),
        ended: false,
        names: new Map(),
      };
      if (ticket !== undefined) c.ticket = ticket;
      this.conversations.set(key, c);
    } else if (ticket !== undefined) {
      c.ticket = ticket;
      c.kind = kind;
    }
    this.update({});
    return c;
  }

  private addLine(c: Conversation, line: StaffLine): void {
    c.lines = [...c.lines, line];
    if (c.lines.length > MAX_LINES) c.lines = c.lines.slice(-MAX_LINES);
  }

  private system(c: Conversation, text: string): void {
    this.addLine(c, { kind: "system", id: this.nextLine++, text });
    this.update({});
  }

  /** Typing signals per chat (hex group id): in memory, never saved. */
  private readonly typingSenders = new Map<string, TypingSender>();
  private readonly typingWatches = new Map<string, TypingWatch>();

  /** I am writing in this chat: the visitor sees "typing" (inside MLS, never stored). */
  typing(groupId: Uint8Array): void {
    const key = hex(groupId);
    if (this.conversations.get(key)?.kind !== "chat") return;
    let sender = this.typingSenders.get(key);
    if (sender === undefined) {
      sender = new TypingSender((signal) => this.session.sendSignal(groupId, signal));
      this.typingSenders.set(key, sender);
    }
    sender.input();
  }

  private typingSignalFrom(c: Conversation, key: string, signal: "start" | "stop"): void {
    let watch = this.typingWatches.get(key);
    if (watch === undefined) {
      watch = new TypingWatch();
      this.typingWatches.set(key, watch);
    }
    watch.signal(signal);
    c.visitorTyping = watch.typing;
    this.update({});
    if (signal === "start") {
      setTimeout(() => {
        c.visitorTyping = watch.typing;
        this.update({});
      }, TYPING_IDLE_MS + 50);
    }
  }

  /** The conversation on screen; its unread count goes to zero. */
  open(groupId: Uint8Array | undefined): void {
    this.activeGroup = groupId === undefined ? undefined : hex(groupId);
    const c = this.activeGroup === undefined ? undefined : this.conversations.get(this.activeGroup);
    if (c !== undefined) c.unread = 0;
    this.update({});
  }

  async send(groupId: Uint8Array, text: string): Promise<void> {
    const c = this.conversations.get(hex(groupId));
    if (c === undefined) return;
    this.typingSenders.get(hex(groupId))?.sent();
    const id = this.nextLine++;
    this.addLine(c, { kind: "mine", id, text, delivery: "sending" });
    this.update({});
    let delivery: "sent" | "failed" = "sent";
    try {
      // In a circle every message carries the sender's name there.
      await this.session.sendText(groupId, c.kind === "circle" ? encodeCircleText(this.state.me.display_name, text) : text);
    } catch {
      delivery = "failed";
    }
    c.lines = c.lines.map((l) => (l.id === id && l.kind === "mine" ? { ...l, delivery } : l));
    this.update({});
    this.saveSoon(c);
  }

  /** Hand the chat to a colleague (or the best available), sealing `note` to them in a separate group. */
  async transfer(groupId: Uint8Array, note: string, to?: number): Promise<StaffBadge> {
    const req: { op: "transfer_chat"; group_id: Uint8Array; to?: number } = { op: "transfer_chat", group_id: groupId };
    if (to !== undefined) req.to = to;
    const answer = await this.request(req);
    if (answer.kind !== "transferred") throw new Error(`unexpected answer ${answer.kind}`);
    const c = this.conversations.get(hex(groupId));
    if (c !== undefined) this.system(c, `Transferred to ${answer.to.display_name}. They will remove you once they are in.`);
    if (note.trim() !== "") await this.sendNote(answer.to, answer.note_key_package, note.trim(), c?.title ?? "");
    return answer.to;
  }

  private async sendNote(to: StaffBadge, keyPackageBytes: Uint8Array, note: string, title: string): Promise<void> {
    const key = this.attestationKey;
    const badge = key === undefined ? undefined : verifyBadge(key, to, Math.floor(Date.now() / 1000));
    if (badge === undefined || !badge.ok) throw new Error("the colleague's badge does not verify: no note sent");
    const keyPackage = await this.mls.validateKeyPackage(keyPackageBytes, badge.key);
    const groupId = await this.session.createGroup();
    const c = this.conversation(groupId, "note");
    c.title = `Note to ${to.display_name}${title ? ` · ${title}` : ""}`;
    c.joined = true;
    await this.session.commit(groupId, () => this.mls.commitAdd(groupId, [keyPackage]));
    await this.send(groupId, note);
  }

  /** End a chat with a closing tag; the server purges it. */
  async close(groupId: Uint8Array, tag: string): Promise<void> {
    await this.request({ op: "close_chat", group_id: groupId, tag });
    this.ended(groupId, `Closed (${tag}).`);
  }

  /** Block the visitor of this chat's ticket. */
  async block(groupId: Uint8Array, durationSecs: number, reason: string): Promise<void> {
    const c = this.conversations.get(hex(groupId));
    if (c?.ticket === undefined) throw new Error("not a visitor's chat");
    await this.request({ op: "block_visitor", ticket_id: c.ticket.ticket_id, duration_secs: durationSecs, reason });
    this.ended(groupId, "The visitor was blocked; the chat is closed.");
  }

  private ended(groupId: Uint8Array, text: string): void {
    const c = this.conversations.get(hex(groupId));
    if (this.mls.hasGroup(groupId)) this.mls.discardGroup(groupId);
    if (this.vault !== undefined && !this.moved) void this.guard(this.vault.remove(groupSlot(groupId))).catch(() => undefined);
    if (c === undefined || c.ended) return;
    c.ended = true;
    this.system(c, text);
  }

  /** Forget an ended conversation (its lines leave the screen). */
  dismiss(groupId: Uint8Array): void {
    this.conversations.delete(hex(groupId));
    if (this.activeGroup === hex(groupId)) this.activeGroup = undefined;
    this.update({});
  }

  // --- escalation to the crisis line ---------------------------------------------

  /** Ask for a crisis responder: a request signed by this session's key, outside MLS. */
  async escalate(groupId: Uint8Array, severity: Severity, category: Category): Promise<EscalationEntry> {
    const signed = this.mls.identity.escalation(groupId, severity, category, Math.floor(Date.now() / 1000));
    const answer = await this.request({ op: "escalate", escalation: signed });
    if (answer.kind !== "escalated") throw new Error(`unexpected answer ${answer.kind}`);
    this.escalationChanged(answer.escalation);
    return answer.escalation;
  }

  /** End the chat's escalation: `resolved` (the chat goes on) or `handed_off` (leave the chat to the responder). */
  async resolveEscalation(groupId: Uint8Array, outcome: EscalationOutcome): Promise<void> {
    const entry = this.conversations.get(hex(groupId))?.escalation;
    if (entry === undefined) throw new Error("this chat has no escalation");
    const answer = await this.request({ op: "resolve_escalation", escalation_id: entry.escalation_id, outcome });
    if (answer.kind !== "escalation_resolved") throw new Error(`unexpected answer ${answer.kind}`);
    this.escalationChanged(answer.escalation);
  }

  /** Crisis responders: go on or off duty (on duty: the queue and its pushes). */
  async setDuty(state: DutyState): Promise<void> {
    const answer = await this.request({ op: "set_duty", state });
    if (answer.kind !== "duty") throw new Error(`unexpected answer ${answer.kind}`);
    this.update({ duty: answer.state });
    if (answer.state === "on_duty") await this.refreshEscalations();
    else this.update({ escalations: [] });
  }

  async refreshEscalations(): Promise<void> {
    const answer = await this.request({ op: "escalation_queue" });
    if (answer.kind !== "escalations") return;
    this.update({ escalations: answer.escalations.map((entry) => this.checked(entry)) });
  }

  private checked(entry: EscalationEntry): QueuedEscalation {
    return { entry, check: checkEscalation(entry, this.attestationKey, Math.floor(Date.now() / 1000)) };
  }

  /**
   * Crisis responders: take an escalation. The chat's counsellor adds this
   * device; the chat arrives by its Welcome and works like any other.
   */
  async acceptEscalation(escalationId: number): Promise<Conversation> {
    const queued = this.state.escalations.find((q) => q.entry.escalation_id === escalationId);
    if (queued !== undefined && queued.check !== "verified") throw new Error("this escalation's signature does not verify: not accepted");
    const answer = await this.request({ op: "accept_escalation", escalation_id: escalationId });
    if (answer.kind !== "escalation_accepted") throw new Error(`unexpected answer ${answer.kind}`);
    const entry = answer.escalation;
    const c = this.conversation(entry.request.group_id, "chat");
    c.kind = "chat";
    c.title = `Crisis · ${CATEGORY_LABELS[entry.request.category]} · ${entry.language}`;
    c.names.set(hex(entry.counsellor.signature_key), entry.counsellor.display_name);
    if (!c.joined) this.system(c, `You accepted. ${entry.counsellor.display_name} is adding you to the chat…`);
    this.escalationChanged(entry);
    return c;
  }

  /** The server's word on an escalation: the chat's status line and the responder's queue. */
  private escalationChanged(entry: EscalationEntry): void {
    const c = this.conversations.get(hex(entry.request.group_id));
    if (c !== undefined) {
      const before = c.escalation?.status;
      c.escalation = entry;
      if (before !== entry.status) this.system(c, escalationStatusText(entry));
    }
    const mine = entry.responder !== undefined && equalBytes(entry.responder.signature_key, this.clientId);
    const watching = this.state.me.role === "crisis_responder" && this.state.duty === "on_duty";
    const stays = watching && !["resolved", "handed_off"].includes(entry.status) && (entry.status === "open" || mine);
    const others = this.state.escalations.filter((q) => q.entry.escalation_id !== entry.escalation_id);
    const listed = others.length !== this.state.escalations.length;
    if (stays && (listed || entry.status === "open")) this.update({ escalations: [...others, this.checked(entry)] });
    else if (listed) this.update({ escalations: others });
    else this.update({});
  }

  /** The counsellor: add the responder the server names, only if the badge and key package hold. */
  private async addResponder(push: Extract<Push, { type: "add_responder" }>): Promise<void> {
    const c = this.conversations.get(hex(push.group_id));
    const refuse = (why: string) => {
      if (c !== undefined) this.system(c, `A crisis responder was not added: ${why}.`);
      else this.update({ problem: `A crisis responder was not added: ${why}.` });
    };
    const key = responderKey(push.responder, this.attestationKey, Math.floor(Date.now() / 1000));
    if (key === undefined) return refuse("their badge does not verify as a crisis responder");
    const keyPackage = await this.mls.validateKeyPackage(push.key_package, key).catch(() => undefined);
    if (keyPackage === undefined) return refuse("the key package is not the badge's key");
    if (!(await this.session.waitForGroup(push.group_id, JOIN_WAIT_MS))) return refuse("you are not in the chat");
    try {
      c?.names.set(hex(key), push.responder.display_name);
      await this.session.commit(push.group_id, () => this.mls.commitAdd(push.group_id, [keyPackage]));
      if (c !== undefined) this.system(c, `${push.responder.display_name} (crisis responder) was added to the chat.`);
    } catch (e) {
      refuse((e as Error).message);
    }
  }

  private fallback(groupId: Uint8Array, lines: CrisisLine[]): void {
    const c = this.conversations.get(hex(groupId));
    const numbers = lines.map((l) => `${l.number} (${l.name}, ${l.hours})`).join("; ");
    const text = `No crisis responder has accepted yet. Give the visitor these numbers: ${numbers}.`;
    if (c !== undefined) this.system(c, text);
    else this.update({ problem: text });
  }

  // --- team messages and peer groups -------------------------------------------

  /** A chat, or a message left for the team (taken or not yet): the other side is the visitor. */
  private fromVisitor(c: Conversation, groupId: Uint8Array): boolean {
    return c.kind === "chat" || c.kind === "team" || this.state.teamMessages.some((m) => equalBytes(m.group_id, groupId));
  }

  async takeTeamMessage(groupId: Uint8Array): Promise<void> {
    await this.request({ op: "take_team_message", group_id: groupId });
    const c = this.conversation(groupId, "team");
    c.kind = "team";
    c.title = "Message left for the team";
    // What arrived before it was taken was shown by key: it is the visitor's.
    c.lines = c.lines.map((l) => (l.kind === "theirs" ? { ...l, from: "Visitor" } : l));
    this.update({ teamMessages: this.state.teamMessages.filter((m) => !equalBytes(m.group_id, groupId)) });
  }

  // --- peer support circles ------------------------------------------------------

  /** Learn the names the server bound to a circle's members' keys. */
  private async refreshRoster(groupId: Uint8Array): Promise<void> {
    const view = this.state.circles.find((v) => equalBytes(v.info.group_id, groupId));
    const c = this.conversations.get(hex(groupId));
    if (view === undefined || c === undefined) return;
    try {
      const answer = await this.request({ op: "circle_roster", circle_id: view.info.circle_id });
      if (answer.kind !== "circle_roster") return;
      for (const m of answer.members) if (m.display_name !== "") c.names.set(hex(m.client_id), m.display_name);
      this.update({});
    } catch {
      // Names stay as they were.
    }
  }

  /**
   * After a reload or a login on another computer: the circles I moderate
   * whose group came back from the vault, with who is asking to join, who is
   * in and the live invitations (their codes were shown once and are gone).
   */
  private async restoreCircles(): Promise<void> {
    const answer = await this.request({ op: "list_circles" });
    if (answer.kind !== "circles") return;
    const me = hex(this.clientId);
    for (const info of answer.circles) {
      if (!info.moderator || !this.mls.hasGroup(info.group_id)) continue;
      const circleId = info.circle_id;
      const [requests, roster, invitations] = await Promise.all([
        this.request({ op: "join_requests", circle_id: circleId }),
        this.request({ op: "circle_roster", circle_id: circleId }),
        this.request({ op: "list_invitations", circle_id: circleId }),
      ]);
      const c = this.conversations.get(hex(info.group_id));
      const members: CircleView["members"] = [];
      if (roster.kind === "circle_roster") {
        for (const m of roster.members) {
          const key = hex(m.client_id);
          if (m.display_name !== "") c?.names.set(key, m.display_name);
          if (key !== me) members.push({ key, name: m.display_name || key.slice(0, 8), muted: m.muted === true });
        }
      }
      // A join request pushed while these answers were on their way is kept.
      const pushed = this.circleView(circleId)?.requests ?? [];
      const fetched = requests.kind === "join_requests" ? requests.requests : [];
      this.setCircle({
        info,
        invitations: invitations.kind === "invitations" ? invitations.invitations : [],
        requests: [...fetched, ...pushed.filter((p) => !fetched.some((r) => r.request_id === p.request_id))],
        members,
      });
    }
  }

  private circleView(circleId: number): CircleView | undefined {
    return this.state.circles.find((c) => c.info.circle_id === circleId);
  }

  private setCircle(view: CircleView): void {
    const others = this.state.circles.filter((c) => c.info.circle_id !== view.info.circle_id);
    this.update({ circles: [...others, view].sort((a, b) => a.info.circle_id - b.info.circle_id) });
  }

  /** A circle I moderate: a new group of mine, then the circle around it. */
  async createCircle(name: string, language: string, topic: string, autoApprove: boolean): Promise<CircleView> {
    const groupId = await this.session.createGroup();
    const answer = await this.request({
      op: "create_circle",
      group_id: groupId,
      name,
      language,
      topic,
      ...(autoApprove ? { auto_approve: true } : {}),
    });
    if (answer.kind !== "circle") throw new Error(`unexpected answer ${answer.kind}`);
    const c = this.conversation(groupId, "circle");
    c.kind = "circle";
    c.title = `Circle · ${answer.circle.name}`;
    c.joined = true;
    const view: CircleView = { info: answer.circle, invitations: [], requests: [], members: [] };
    this.setCircle(view);
    return view;
  }

  /** A new invitation; its code is shown here once and kept only in this page. */
  async createInvitation(circleId: number, days: number, uses: number): Promise<InvitationState> {
    const answer = await this.request({
      op: "create_invitation",
      circle_id: circleId,
      expires_in_secs: Math.round(days * 86_400),
      max_uses: uses,
    });
    if (answer.kind !== "invitation") throw new Error(`unexpected answer ${answer.kind}`);
    const view = this.circleView(circleId);
    if (view !== undefined) this.setCircle({ ...view, invitations: [...view.invitations, answer.invitation] });
    return answer.invitation;
  }

  async revokeInvitation(circleId: number, invitationId: number): Promise<void> {
    await this.request({ op: "revoke_invitation", circle_id: circleId, invitation_id: invitationId });
    const view = this.circleView(circleId);
    if (view === undefined) return;
    this.setCircle({
      ...view,
      invitations: view.invitations.map((i) => (i.invitation_id === invitationId ? { ...i, revoked: true } : i)),
    });
  }

  async refreshRequests(circleId: number): Promise<void> {
    const answer = await this.request({ op: "join_requests", circle_id: circleId });
    if (answer.kind !== "join_requests") return;
    const view = this.circleView(circleId);
    if (view !== undefined) this.setCircle({ ...view, requests: answer.requests });
  }

  /** Approve: commit the add with the key package that came with the request. */
  async approve(circleId: number, requestId: number): Promise<void> {
    const view = this.circleView(circleId);
    const request = view?.requests.find((r) => r.request_id === requestId);
    if (view === undefined || request === undefined) return;
    const groupId = view.info.group_id;
    const keyPackage = await this.mls.validateKeyPackage(request.key_package, request.client_id);
    await this.session.commit(groupId, () => this.mls.commitAdd(groupId, [keyPackage]));
    const key = hex(request.client_id);
    const c = this.conversations.get(hex(groupId));
    c?.names.set(key, request.display_name);
    if (c !== undefined) this.system(c, `${request.display_name} joined.`);
    const latest = this.circleView(circleId) ?? view;
    this.setCircle({
      ...latest,
      requests: latest.requests.filter((r) => r.request_id !== requestId),
      members: [...latest.members.filter((m) => m.key !== key), { key, name: request.display_name, muted: false }],
    });
  }

  async decline(circleId: number, requestId: number): Promise<void> {
    await this.request({ op: "decline_join", circle_id: circleId, request_id: requestId });
    const view = this.circleView(circleId);
    if (view !== undefined) this.setCircle({ ...view, requests: view.requests.filter((r) => r.request_id !== requestId) });
  }

  async setMuted(circleId: number, key: string, muted: boolean): Promise<void> {
    const clientId = hexBytes(key);
    await this.request({ op: "set_muted", circle_id: circleId, client_id: clientId, muted });
    const view = this.circleView(circleId);
    if (view !== undefined) {
      this.setCircle({ ...view, members: view.members.map((m) => (m.key === key ? { ...m, muted } : m)) });
    }
  }

  async removeFromCircle(circleId: number, key: string): Promise<void> {
    const view = this.circleView(circleId);
    if (view === undefined) return;
    await this.removeMember(view.info.group_id, key);
    const latest = this.circleView(circleId) ?? view;
    this.setCircle({ ...latest, members: latest.members.filter((m) => m.key !== key) });
  }

  async closeCircle(circleId: number): Promise<void> {
    const view = this.circleView(circleId);
    if (view === undefined) return;
    await this.request({ op: "close_circle", circle_id: circleId });
    this.ended(view.info.group_id, "You closed the circle. Its messages are deleted from the server.");
    if (this.mls.hasGroup(view.info.group_id)) this.mls.discardGroup(view.info.group_id);
    this.update({ circles: this.state.circles.filter((c) => c.info.circle_id !== circleId) });
  }

  private circleJoinRequest(request: JoinRequest): void {
    const view = this.circleView(request.circle_id);
    if (view === undefined) return;
    if (view.requests.some((r) => r.request_id === request.request_id)) return;
    this.setCircle({ ...view, requests: [...view.requests, request] });
    if (view.info.auto_approve) {
      void this.approve(request.circle_id, request.request_id).catch((e: Error) =>
        this.update({ problem: `Adding someone to the circle failed: ${e.message}` }),
      );
    } else {
      this.events.alerted?.(`Someone asks to join ${view.info.name}`);
    }
  }

  private circleMemberLeft(circleId: number, clientId: Uint8Array): void {
    const view = this.circleView(circleId);
    if (view === undefined) return;
    const key = hex(clientId);
    const name = view.members.find((m) => m.key === key)?.name ?? key.slice(0, 8);
    const c = this.conversations.get(hex(view.info.group_id));
    if (c !== undefined) this.system(c, `${name} left the circle.`);
    // Their leaf goes with my next commit: now.
    void this.removeFromCircle(circleId, key).catch(() => undefined);
  }

  /** A peer group with me alone in it; invite colleagues by their device key. */
  async createPeerGroup(title: string): Promise<Conversation> {
    const groupId = await this.session.createGroup();
    const c = this.conversation(groupId, "peer");
    c.title = title || "Peer group";
    c.joined = true;
    this.update({});
    return c;
  }

  /** Invite a colleague (their device key, hex) to a peer group. */
  async invite(groupId: Uint8Array, clientIdHex: string): Promise<void> {
    const clientId = hexBytes(clientIdHex.trim());
    if (clientId.length !== 32) throw new Error("a device key is 64 hex digits");
    const answer = await this.request({ op: "claim_key_package", client_id: clientId });
    if (answer.kind !== "key_package") throw new Error(`unexpected answer ${answer.kind}`);
    const keyPackage = await this.mls.validateKeyPackage(answer.key_package, clientId);
    await this.session.commit(groupId, () => this.mls.commitAdd(groupId, [keyPackage]));
    const c = this.conversations.get(hex(groupId));
    if (c !== undefined) this.system(c, `Invited ${clientIdHex.slice(0, 8)}…`);
  }

  /** Remove a member (device key, hex) from a peer group. */
  async removeMember(groupId: Uint8Array, clientIdHex: string): Promise<void> {
    const clientId = hexBytes(clientIdHex.trim());
    if (clientId.length !== 32) throw new Error("a device key is 64 hex digits");
    const epoch = await this.session.commit(groupId, () => this.mls.commitRemove(groupId, [clientId]));
    if (epoch === undefined) throw new Error("that device key is not in this group");
    const c = this.conversations.get(hex(groupId));
    // A circle member by the name the server bound to her key, when known.
    const key = hex(clientId);
    if (c !== undefined) this.system(c, `Removed ${c.names.get(key) ?? `${key.slice(0, 8)}…`}`);
  }

  /**
   * Leave a peer group. Protocol v1 has no self-removal (it needs a
   * proposal), so leaving drops my keys and the group from this console;
   * a remaining member removes my leaf.
   */
  leave(groupId: Uint8Array): void {
    if (this.mls.hasGroup(groupId)) this.mls.discardGroup(groupId);
    this.dismiss(groupId);
  }

  members(groupId: Uint8Array): string[] {
    return this.mls.hasGroup(groupId) ? this.mls.members(groupId).map((m) => hex(m.clientId)) : [];
  }

  /** End the session: log out on the server (which closes the socket) and wipe every key. */
  async logout(): Promise<void> {
    this.loggedOut = true;
    await logout(this.token);
    this.session.close();
    this.mls.wipe();
    this.vault?.close();
    this.vault = undefined;
    this.conversations.clear();
  }

  // --- pushes and MLS events ------------------------------------------------------

  private push(push: Push): void {
    switch (push.type) {
      case "envelope":
        this.session.push(push);
        return;
      case "key_package_count":
        if (push.one_time < KEY_PACKAGE_LOW) void this.publishKeyPackages(KEY_PACKAGE_STOCK - push.one_time, false);
        return;
      case "offer": {
        const offer = { ticket: push.ticket, expiresAt: Date.now() + push.expires_in_secs * 1000 };
        this.update({ offers: [...this.state.offers.filter((o) => o.ticket.ticket_id !== push.ticket.ticket_id), offer] });
        this.events.offered?.(offer);
        return;
      }
      case "offer_withdrawn":
        this.dropOffer(push.ticket_id);
        return;
      case "queue_changed":
        this.update({ queueDepth: push.depth });
        void this.refreshQueue().catch(() => undefined);
        return;
      case "chat_assigned": {
        const c = this.conversation(push.group_id, "chat", push.ticket);
        if (push.from !== undefined) {
          c.names.set(hex(push.from.signature_key), push.from.display_name);
          this.system(
            c,
            this.mls.hasGroup(push.group_id)
              ? `${push.from.display_name} left the chat to you: it is yours now.`
              : `Transferred to you by ${push.from.display_name}. Waiting for the visitor's device to add you.`,
          );
        }
        if (push.remove_previous !== undefined && !equalBytes(push.remove_previous, this.clientId)) {
          void this.duty({ kind: "remove_previous", groupId: push.group_id, previous: push.remove_previous });
        }
        return;
      }
      case "readd_visitor":
        void this.duty({ kind: "readd", groupId: push.group_id, old: push.old_client, keyPackage: push.key_package });
        return;
      case "remove_revoked_members":
        if (!push.clients.some((c) => equalBytes(c, this.clientId))) {
          void this.duty({ kind: "remove_revoked", groupId: push.group_id, clients: push.clients });
        }
        return;
      case "chat_ended":
        this.ended(push.group_id, "The chat has ended.");
        return;
      case "visitor_presence": {
        const c = this.conversations.get(hex(push.group_id));
        if (c === undefined || c.presence === push.presence || (c.presence === undefined && push.presence === "here")) return;
        c.presence = push.presence;
        this.system(c, presenceLine(push.presence));
        return;
      }
      case "team_messages_waiting":
        this.update({ teamMessages: push.messages });
        return;
      case "sos_alert": {
        const c = this.conversations.get(hex(push.group_id));
        if (c === undefined) return;
        c.sosAlert = true;
        this.system(c, "The visitor pressed “I'm in danger now”. Consider escalating.");
        this.events.alerted?.(`SOS in ${c.title}`);
        return;
      }
      case "escalation_raised":
        this.escalationChanged(push.escalation);
        this.events.alerted?.(`Escalation waiting (${push.escalation.request.severity})`);
        return;
      case "escalation_changed":
        this.escalationChanged(push.escalation);
        return;
      case "add_responder":
        void this.addResponder(push);
        return;
      case "escalation_fallback":
        this.fallback(push.group_id, push.help.crisis_lines);
        return;
      case "circle_join_request":
        this.circleJoinRequest(push.request);
        return;
      case "circle_member_left":
        this.circleMemberLeft(push.circle_id, push.client_id);
        return;
      case "circle_ended":
        this.ended(push.group_id, "The circle has ended.");
        return;
      default:
        return;
    }
  }

  /** Do what the intake asks once I am a member of the group (a duty waits for the Welcome). */
  private async duty(d: Duty): Promise<void> {
    if (!(await this.session.waitForGroup(d.groupId, JOIN_WAIT_MS))) {
      this.update({ problem: "A chat was not joined in time; hand it back and take it again." });
      return;
    }
    const c = this.conversations.get(hex(d.groupId));
    try {
      if (d.kind === "remove_previous") {
        await this.session.commit(d.groupId, () => this.mls.commitRemove(d.groupId, [d.previous]));
        if (c !== undefined) this.system(c, "The previous counsellor was removed from the chat.");
      } else if (d.kind === "remove_revoked") {
        await this.session.commit(d.groupId, () => this.mls.commitRemove(d.groupId, d.clients));
        if (c !== undefined) this.system(c, "A disabled staff account was removed from this conversation.");
      } else {
        const { keyPackage } = await this.mls.parseKeyPackage(d.keyPackage);
        await this.session.commit(d.groupId, async () => {
          const remove = this.mls.members(d.groupId).filter((m) => equalBytes(m.clientId, d.old));
          return this.mls.commitReplace(d.groupId, remove.map((m) => m.clientId), [keyPackage]);
        });
        if (c !== undefined) this.system(c, "The visitor came back on a new device key and was added again.");
      }
    } catch (e) {
      this.update({ problem: `An intake step failed: ${(e as Error).message}` });
    }
  }

  private mlsEvent(event: MlsEvent): void {
    const key = hex(event.groupId);
    // Saved before the ack that lets the server forget this envelope.
    if (event.kind !== "skipped") this.unsaved.add(key);
    if (event.kind === "joined") this.identityUnsaved = true;
    switch (event.kind) {
      case "joined": {
        // A Welcome to a group I do not know as a chat is a note, a team message or a peer group.
        const c = this.conversations.get(key) ?? this.conversation(event.groupId, "note");
        if (c.kind === "note" && c.title === "note") c.title = "Hand-over note or group";
        c.joined = true;
        this.system(c, "You are in the conversation (end-to-end encrypted).");
        return;
      }
      case "message": {
        const c = this.conversations.get(key) ?? this.conversation(event.groupId, "note");
        const signal = typingSignal(event.plaintext);
        if (signal !== undefined) {
          // Ephemeral: shown for a moment in chats, never a line, never kept.
          if (c.kind === "chat") this.typingSignalFrom(c, key, signal);
          return;
        }
        const plain = decodeText(event.plaintext);
        if (plain === undefined) return;
        this.typingWatches.get(key)?.message();
        c.visitorTyping = false;
        const circleText = c.kind === "circle" ? decodeCircleText(plain) : undefined;
        const text = circleText?.text ?? plain;
        // In a circle, only the name the server bound to the sender's key
        // counts, never the one the message claims.
        const name = c.names.get(hex(event.sender)) ?? (c.kind === "circle" ? "(name not confirmed)" : undefined);
        if (c.kind === "circle" && !c.names.has(hex(event.sender))) void this.refreshRoster(event.groupId);
        this.addLine(c, {
          kind: "theirs",
          id: this.nextLine++,
          text,
          from: name || (this.fromVisitor(c, event.groupId) ? "Visitor" : hex(event.sender).slice(0, 8)),
        });
        if (this.activeGroup !== key) {
          c.unread += 1;
          this.events.message?.(c);
        }
        this.update({});
        return;
      }
      case "commit": {
        const c = this.conversations.get(key);
        if (c?.kind === "circle" && !event.removedMe) void this.refreshRoster(event.groupId);
        if (c !== undefined && event.removedMe) this.ended(event.groupId, "You are no longer in this chat.");
        else if (c !== undefined && !event.mine && (event.added.length > 0 || event.removed.length > 0)) {
          this.system(c, `Members changed: ${event.added.length} added, ${event.removed.length} removed.`);
        }
        return;
      }
      case "skipped":
        return;
    }
  }
}
