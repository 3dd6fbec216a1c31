// The counsellor's side of the intake, in the browser (client/src/intake.rs
// does the same in Rust). StaffConsole opens the session's socket with this
// account's key, keeps key packages stocked, routes the server's pushes and
// MLS events to the part that owns them, and gets a dropped socket back;
// the work itself is in the parts:
//   login.ts        log in and out over HTTPS
//   core.ts         shared state, conversations, the request path
//   persistence.ts  the staff vault: identity, groups, cursor, shift
//   queue.ts        shift, queue, offers, accepting a ticket, the board
//   chats.ts        messages, typing, presence, SOS, membership events
//   transfers.ts    transfer with a note, close, block, the intake's duties
//   crisis.ts       escalation to the crisis line
//   team.ts         team messages and peer groups
//   circleDesk.ts   peer support circles I moderate
//
// Reload policy: the console's one MLS identity, every group's state and
// each conversation's history are sealed into the staff vault, never into
// browser storage. After a reload or a login on another computer the
// console opens the vault, restores them, authenticates with the same key
// and reads the mailbox on from its last ack. Logout drops the key and
// every plaintext with the page's memory.

import { MailboxSession } from "../chat/session";
import { Identity, MlsClient, type MlsEvent } from "../mls";
import { Connection, ConnectionClosed, type Push, ServerError, type SocketLike } from "../net/connection";
import { Reconnector, afterClose } from "../net/reconnect";
import {
  CLOSE,
  type Category,
  type DutyState,
  type EscalationEntry,
  type EscalationOutcome,
  type InvitationState,
  type Response,
  type Severity,
  type ShiftState,
  type StaffBadge,
} from "../protocol";
import { hex } from "../util/hex";
import { Chats } from "./chats";
import { CircleDesk } from "./circleDesk";
import { type CircleView, type ConsoleEvents, ConsoleCore, type ConsoleState, type Conversation, initialState } from "./core";
import { CrisisDesk } from "./crisis";
import { logout } from "./login";
import { Persistence, savedIdentity } from "./persistence";
import { type Board, QueueDesk } from "./queue";
import { TeamDesk } from "./team";
import { Transfers } from "./transfers";
import type { Vault } from "./vault";

export type { CircleView, ConsoleEvents, ConsoleState, Conversation, Offer, QueuedEscalation, StaffLine } from "./core";
export { LoginError, type LoginAnswer, login, logout } from "./login";
export { MOVED_NOTICE } from "./persistence";

/** One-time key packages kept on the server (for transfers, notes, team messages and peer groups). */
export const KEY_PACKAGE_STOCK = 10;
/** Top up when the server says fewer than this are left. */
const KEY_PACKAGE_LOW = 4;

export class StaffConsole {
  private readonly core: ConsoleCore;
  private readonly persistence: Persistence;
  private readonly queue: QueueDesk;
  private readonly chats: Chats;
  private readonly transfers: Transfers;
  private readonly crisis: CrisisDesk;
  private readonly team: TeamDesk;
  private readonly circles: CircleDesk;
  private readonly reconnector = new Reconnector();
  private openSocket: (() => SocketLike) | undefined;

  private constructor(
    readonly mls: MlsClient,
    readonly token: string,
    events: ConsoleEvents,
    vault: Vault | undefined,
  ) {
    const core = new ConsoleCore(mls, events);
    this.core = core;
    this.persistence = new Persistence(core, vault);
    core.store = this.persistence;
    this.queue = new QueueDesk(core);
    this.team = new TeamDesk(core);
    this.circles = new CircleDesk(core, (groupId, key) => this.team.removeMember(groupId, key));
    this.chats = new Chats(core, (groupId) => void this.circles.refreshRoster(groupId));
    this.transfers = new Transfers(core, (groupId, text) => this.chats.send(groupId, text));
    this.crisis = new CrisisDesk(core);
  }

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
    const saved = savedIdentity(vault);
    const mls = await MlsClient.create(saved === undefined ? Identity.generate() : Identity.fromSecret(saved.secret));
    const console_ = new StaffConsole(mls, token, events, vault);
    const { core, persistence } = console_;
    console_.openSocket = openSocket;
    let cursor: number | undefined;
    if (vault !== undefined && saved !== undefined) {
      await mls.importKeyPackages(saved.key_packages).catch(() => undefined);
      cursor = persistence.restoreGroups();
    }
    // The opened plaintexts are in the MLS client and the conversations now.
    vault?.forgetItems();
    const { connection, authenticated } = await console_.authenticate(socket);
    const me = authenticated.staff;
    if (me === undefined) throw new Error("the server did not open a staff session");
    core.session = new MailboxSession(connection, mls, (event) => console_.mlsEvent(event), (what) => core.update({ problem: what }));
    if (vault !== undefined) {
      core.session.persist = {
        beforeAck: (upTo) => persistence.saveBeforeAck(upTo),
        groupChanged: (groupId) => persistence.saveGroup(hex(groupId)),
      };
    }
    core.state = { ...initialState(me, vault !== undefined), conversations: [...core.conversations.values()] };
    // A restored key reads on from its last ack, or, never having acked
    // (no saved cursor: it went offline before anything reached it), from
    // the start of what is still kept: a Welcome left while it was away is
    // there. A new key starts at the head.
    const after = cursor === undefined ? 0 : Math.min(cursor, authenticated.mailbox_head);
    await core.session.subscribe(saved === undefined ? authenticated.mailbox_head : after);
    const info = await connection.request({ op: "intake_info" });
    if (info.kind === "intake_info") {
      core.attestationKey = info.attestation_key;
      core.state.closingTags = info.closing_tags;
    }
    if (saved === undefined) {
      await console_.publishKeyPackages(KEY_PACKAGE_STOCK, true);
    } else {
      // The chats are back already; the stock is topped up behind them.
      void console_.publishKeyPackages(KEY_PACKAGE_STOCK, true).catch(() => undefined);
      const shift = persistence.saved.shift;
      if (shift !== undefined) void console_.setShift(shift).catch(() => undefined);
      void console_.circles.restoreCircles().catch(() => undefined);
    }
    return console_;
  }

  /** The console as the screen shows it. */
  get state(): ConsoleState {
    return this.core.state;
  }

  /** The conversation on screen (hex group id). */
  get activeGroup(): string | undefined {
    return this.core.activeGroup;
  }

  get clientId(): Uint8Array {
    return this.mls.clientId;
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
    const { core } = this;
    if (core.state !== undefined) core.update({ connected: false });
    const after = afterClose(code);
    if (after === "replaced" && !core.loggedOut) {
      this.persistence.stopMoved();
      return;
    }
    const openSocket = this.openSocket;
    if (core.loggedOut || after !== "reconnect" || openSocket === undefined || core.state === undefined) {
      core.events.closed?.(code);
      return;
    }
    const outcome = this.reconnector.run({
      attempt: async () => {
        const { connection, authenticated } = await this.authenticate(openSocket());
        await core.session.reconnected(connection, authenticated.mailbox_head);
      },
      stopped: () => core.loggedOut,
      // The session is gone (ended, or it died with a --demo restart or a
      // reset while this console was away): back to the login.
      fatal: (e) =>
        (e instanceof ConnectionClosed && afterClose(e.code) === "session_ended") ||
        (e instanceof ServerError && e.code === "authentication_failed"),
    });
    void outcome?.then(async (o) => {
      if (o.kind === "fatal") {
        core.events.closed?.(CLOSE.SESSION_ENDED);
      } else if (o.kind === "connected") {
        core.update({ connected: true });
        if (core.state.shift !== "clocked_out") await this.setShift(core.state.shift).catch(() => undefined);
        if (core.state.duty === "on_duty") await this.setDuty("on_duty").catch(() => undefined);
      }
    });
  }

  private async publishKeyPackages(count: number, replace: boolean): Promise<void> {
    const oneTime = await this.mls.createKeyPackages(count);
    const lastResort = replace ? await this.mls.createKeyPackages(1, { lastResort: true }) : [];
    // Their private keys are in the vault before anyone can claim them.
    await this.persistence.saveIdentity();
    const req: { op: "publish_key_packages"; key_packages: Uint8Array[]; replace?: boolean } = {
      op: "publish_key_packages",
      key_packages: [...oneTime, ...lastResort],
    };
    if (replace) req.replace = true;
    await this.core.request(req);
  }

  /** End the session: log out on the server (which closes the socket) and wipe every key. */
  async logout(): Promise<void> {
    this.core.loggedOut = true;
    await logout(this.token);
    this.core.session.close();
    this.mls.wipe();
    this.persistence.close();
    this.core.conversations.clear();
  }

  // --- pushes and MLS events: each to the part that owns it --------------------------

  private push(push: Push): void {
    switch (push.type) {
      case "envelope":
        this.core.session.push(push);
        return;
      case "key_package_count":
        if (push.one_time < KEY_PACKAGE_LOW) void this.publishKeyPackages(KEY_PACKAGE_STOCK - push.one_time, false);
        return;
      case "offer":
      case "offer_withdrawn":
      case "queue_changed":
        this.queue.push(push);
        return;
      case "chat_assigned":
      case "readd_visitor":
      case "remove_revoked_members":
      case "chat_ended":
        this.transfers.push(push);
        return;
      case "visitor_presence":
      case "sos_alert":
        this.chats.push(push);
        return;
      case "team_messages_waiting":
        this.team.push(push);
        return;
      case "escalation_raised":
      case "escalation_changed":
      case "add_responder":
      case "escalation_fallback":
        this.crisis.push(push);
        return;
      case "circle_join_request":
      case "circle_member_left":
      case "circle_ended":
        this.circles.push(push);
        return;
      default:
        return;
    }
  }

  private mlsEvent(event: MlsEvent): void {
    this.persistence.noteEvent(event);
    this.chats.mlsEvent(event);
  }

  // --- what the screen calls ---------------------------------------------------------

  setShift(state: ShiftState, handover = false): Promise<Extract<Response, { kind: "shift" }>> {
    return this.queue.setShift(state, handover);
  }
  refreshQueue(): Promise<void> {
    return this.queue.refreshQueue();
  }
  board(): Promise<Board> {
    return this.queue.board();
  }
  rescueChat(groupId: Uint8Array, to?: number): Promise<StaffBadge> {
    return this.queue.rescueChat(groupId, to);
  }
  declineOffer(ticketId: number): Promise<void> {
    return this.queue.declineOffer(ticketId);
  }
  accept(ticketId: number): Promise<Conversation> {
    return this.queue.accept(ticketId);
  }

  typing(groupId: Uint8Array): void {
    this.chats.typing(groupId);
  }
  open(groupId: Uint8Array | undefined): void {
    this.core.open(groupId);
  }
  send(groupId: Uint8Array, text: string): Promise<void> {
    return this.chats.send(groupId, text);
  }
  dismiss(groupId: Uint8Array): void {
    this.core.dismiss(groupId);
  }

  transfer(groupId: Uint8Array, note: string, to?: number): Promise<StaffBadge> {
    return this.transfers.transfer(groupId, note, to);
  }
  close(groupId: Uint8Array, tag: string): Promise<void> {
    return this.transfers.close(groupId, tag);
  }
  block(groupId: Uint8Array, durationSecs: number, reason: string): Promise<void> {
    return this.transfers.block(groupId, durationSecs, reason);
  }

  escalate(groupId: Uint8Array, severity: Severity, category: Category): Promise<EscalationEntry> {
    return this.crisis.escalate(groupId, severity, category);
  }
  resolveEscalation(groupId: Uint8Array, outcome: EscalationOutcome): Promise<void> {
    return this.crisis.resolveEscalation(groupId, outcome);
  }
  setDuty(state: DutyState): Promise<void> {
    return this.crisis.setDuty(state);
  }
  refreshEscalations(): Promise<void> {
    return this.crisis.refreshEscalations();
  }
  acceptEscalation(escalationId: number): Promise<Conversation> {
    return this.crisis.acceptEscalation(escalationId);
  }

  takeTeamMessage(groupId: Uint8Array): Promise<void> {
    return this.team.takeTeamMessage(groupId);
  }
  createPeerGroup(title: string): Promise<Conversation> {
    return this.team.createPeerGroup(title);
  }
  invite(groupId: Uint8Array, clientIdHex: string): Promise<void> {
    return this.team.invite(groupId, clientIdHex);
  }
  removeMember(groupId: Uint8Array, clientIdHex: string): Promise<void> {
    return this.team.removeMember(groupId, clientIdHex);
  }
  leave(groupId: Uint8Array): void {
    this.team.leave(groupId);
  }
  members(groupId: Uint8Array): string[] {
    return this.team.members(groupId);
  }

  createCircle(name: string, language: string, topic: string, autoApprove: boolean): Promise<CircleView> {
    return this.circles.createCircle(name, language, topic, autoApprove);
  }
  createInvitation(circleId: number, days: number, uses: number): Promise<InvitationState> {
    return this.circles.createInvitation(circleId, days, uses);
  }
  revokeInvitation(circleId: number, invitationId: number): Promise<void> {
    return this.circles.revokeInvitation(circleId, invitationId);
  }
  refreshRequests(circleId: number): Promise<void> {
    return this.circles.refreshRequests(circleId);
  }
  approve(circleId: number, requestId: number): Promise<void> {
    return this.circles.approve(circleId, requestId);
  }
  decline(circleId: number, requestId: number): Promise<void> {
    return this.circles.decline(circleId, requestId);
  }
  setMuted(circleId: number, key: string, muted: boolean): Promise<void> {
    return this.circles.setMuted(circleId, key, muted);
  }
  removeFromCircle(circleId: number, key: string): Promise<void> {
    return this.circles.removeFromCircle(circleId, key);
  }
  closeCircle(circleId: number): Promise<void> {
    return this.circles.closeCircle(circleId);
  }
}
