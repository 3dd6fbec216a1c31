// What every part of the staff console shares: its state as the screen
// shows it, the conversations by group, the request path to the server and
// the few steps every part takes (open a conversation, add a line, end it).
// The parts (queue.ts, chats.ts, transfers.ts, crisis.ts, team.ts,
// circleDesk.ts, persistence.ts) hold one job each; staff.ts puts them
// together behind StaffConsole.

import type { MailboxSession } from "../chat/session";
import type { MlsClient } from "../mls";
import type {
  CircleInfo,
  DutyState,
  EscalationEntry,
  InvitationState,
  JoinRequest,
  QueueEntry,
  Request,
  Response,
  ShiftState,
  StaffSelf,
  TeamMessage,
  VisitorPresence,
} from "../protocol";
import { hex } from "../util/hex";
import { ct } from "../i18n/console";
import type { EscalationCheck } from "./escalations";
import { PendingNotes } from "./handover";

/** Lines kept per chat on screen. */
export const MAX_LINES = 1000;
/** How long a duty waits for the Welcome that makes me a member. */
export const JOIN_WAIT_MS = 60_000;

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
  /** When the other side last wrote (ms; page memory only): the list sorts by who waits longest. */
  lastTheirsAt?: number;
  /** When I last wrote (ms; page memory only): a visitor's line after it is unanswered. */
  lastMineAt?: number;
}

/** An escalation in a crisis responder's queue, with what the console made of its signature. */
export interface QueuedEscalation {
  entry: EscalationEntry;
  check: EscalationCheck;
}

export interface Offer {
  ticket: QueueEntry;
  expiresAt: number;
  /** When the offer arrived (ms): `ticket.waited_secs` counts up from here. */
  seenAt: number;
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
  /** When `queue` was fetched (ms): each ticket's `waited_secs` counts up from here. */
  queueSeenAt: number;
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
  alerted?(what: string, kind: "sos" | "escalation" | "join"): void;
  /** A message arrived in a conversation that is not in view. */
  message?(conversation: Conversation): void;
  /** The socket closed for good; `code` is a CLOSE code (SESSION_ENDED: log in again). */
  closed?(code: number): void;
}

/** Where conversations and the shift are kept across reloads (persistence.ts); nothing without a vault. */
export interface ConsoleStore {
  /** A conversation's history changed (a line added). */
  saveConversation(c: Conversation): void;
  /** The shift I chose, taken up again after a reload. */
  saveShift(shift: ShiftState): void;
  /** A group ended: its saved state goes. */
  forgetGroup(groupId: Uint8Array): void;
}

const NO_STORE: ConsoleStore = { saveConversation() {}, saveShift() {}, forgetGroup() {} };

/** The initial state of a console whose session just opened. */
export function initialState(me: StaffSelf, persistent: boolean): ConsoleState {
  return {
    me,
    shift: "clocked_in",
    queue: [],
    queueDepth: 0,
    queueSeenAt: 0,
    offers: [],
    conversations: [],
    teamMessages: [],
    closingTags: [],
    connected: true,
    duty: "off_duty",
    escalations: [],
    circles: [],
    persistent,
  };
}

export class ConsoleCore {
  state!: ConsoleState;
  session!: MailboxSession;
  readonly conversations = new Map<string, Conversation>();
  /** The conversation on screen (hex group id; its messages do not count as unread). */
  activeGroup: string | undefined;
  /** The intake's attestation key (badges are checked against it). */
  attestationKey: Uint8Array | undefined;
  /** Logged out, or another login took over: no reconnect, no saving. */
  loggedOut = false;
  store: ConsoleStore = NO_STORE;
  /** Hand-over notes that came before their chat (handover.ts). */
  readonly pendingNotes = new PendingNotes();
  private nextLine = 1;

  constructor(
    readonly mls: MlsClient,
    readonly events: ConsoleEvents,
  ) {}

  get clientId(): Uint8Array {
    return this.mls.clientId;
  }

  request(req: Request): Promise<Response> {
    return this.session.connection.request(req);
  }

  /** Change the state and tell the screen (conversations are always the current ones). */
  update(patch: Partial<ConsoleState>): void {
    this.state = { ...this.state, ...patch, conversations: [...this.conversations.values()] };
    this.events.changed(this.state);
  }

  /** A new line id (ids only grow, across restored history too). */
  lineId(): number {
    return this.nextLine++;
  }

  /** A restored line took this id: new ones come after it. */
  sawLine(id: number): void {
    this.nextLine = Math.max(this.nextLine, id + 1);
  }

  /** The conversation of this group, made if new; a ticket makes it (again) that chat. */
  conversation(groupId: Uint8Array, kind: Conversation["kind"], ticket?: QueueEntry): Conversation {
    const key = hex(groupId);
    let c = this.conversations.get(key);
    if (c === undefined) {
      c = {
        groupId,
        kind,
        // Chats are named on screen by topic and language (labels.ts); this is the fallback.
        title: ticket !== undefined ? ticket.topic : kind,
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

  find(groupId: Uint8Array): Conversation | undefined {
    return this.conversations.get(hex(groupId));
  }

  addLine(c: Conversation, line: StaffLine): void {
    c.lines = [...c.lines, line];
    if (c.lines.length > MAX_LINES) c.lines = c.lines.slice(-MAX_LINES);
  }

  system(c: Conversation, text: string): void {
    this.addLine(c, { kind: "system", id: this.lineId(), text });
    this.update({});
  }

  /** A line in the conversation if there is one, else the console's problem line. */
  tell(c: Conversation | undefined, text: string): void {
    if (c !== undefined) this.system(c, text);
    else this.update({ problem: text });
  }

  /** The conversation ended: its group's keys go, and it says why. */
  ended(groupId: Uint8Array, text: string): void {
    const c = this.find(groupId);
    if (this.mls.hasGroup(groupId)) this.mls.discardGroup(groupId);
    this.store.forgetGroup(groupId);
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

  /** The conversation on screen; its unread count goes to zero. */
  open(groupId: Uint8Array | undefined): void {
    this.activeGroup = groupId === undefined ? undefined : hex(groupId);
    const c = this.activeGroup === undefined ? undefined : this.conversations.get(this.activeGroup);
    if (c !== undefined) c.unread = 0;
    this.update({});
  }

  /**
   * A hand-over note from key `sender` (hex) for chat `chat` (hex): into
   * the chat, now or when the chat is assigned to me. Only from the
   * colleague the server named when it handed the chat over (anyone
   * else, a visitor included, could Welcome me into a group and claim a
   * chat): false when the sender is not that colleague.
   */
  handoverNote(chat: string, sender: string, text: string): boolean {
    const c = this.conversations.get(chat);
    if (c === undefined) {
      this.pendingNotes.hold(chat, sender, text);
      return true;
    }
    const colleague = c.names.get(sender);
    if (c.kind !== "chat" || colleague === undefined || colleague === "") return false;
    this.addLine(c, { kind: "system", id: this.lineId(), text: ct("line.note", colleague, text) });
    if (this.activeGroup !== chat) c.unread += 1;
    this.update({});
    this.store.saveConversation(c);
    return true;
  }

  /** The chat is mine now: a note that came first goes in (if it is from the colleague who handed it over). */
  takePendingNote(chat: string): void {
    const note = this.pendingNotes.take(chat);
    if (note !== undefined) this.handoverNote(chat, note.sender, note.text);
  }

  /** A note's own group, once its text is in the chat: nothing more comes, it is not listed. */
  dropNoteGroup(groupId: Uint8Array): void {
    if (this.mls.hasGroup(groupId)) this.mls.discardGroup(groupId);
    this.store.forgetGroup(groupId);
    this.dismiss(groupId);
  }
}
