// The visitor's chat (PROTOCOL.md, "Intake"): a fresh anonymous identity,
// `intake_info`, one-time key packages, `request_chat` (solving the proof
// of work if the server asks for it), the ticket as the server pushes it;
// then the chat itself: join by the counsellor's Welcome, send what was
// written while waiting, exchange messages, and on a transfer add the new
// counsellor after checking their badge (client/src/intake.rs does the
// same in Rust). Nothing is stored; identity and keys live in this object.

import { ChatLog, type ChatLine, type Counsellor } from "./chat";
import { crisisResponderFor } from "./crisis";
import { MailboxSession, decodeText } from "../chat/session";
import { Identity, MlsClient, type MlsEvent, equalBytes } from "../mls";
import type { FeedbackAnswer, Help, Response, StaffBadge, TicketState } from "../protocol";
import { solvePow } from "../protocol";
import { Connection, type Push, ServerError, type SocketLike } from "../net/connection";
import { Reconnector, afterClose } from "../net/reconnect";
import { type TeamMessageOutcome, outcomeOfDelivery, outcomeOfRefusal } from "./teamMessage";
import { TYPING_IDLE_MS, TypingSender, TypingWatch, typingSignal } from "../chat/typing";

/** How long the visitor's page waits for the Welcome before it stops waiting for a duty. */
const JOIN_WAIT_MS = 60_000;

/** One-time key packages sent with the request (the server keeps them for the chat). */
export const KEY_PACKAGES_PER_REQUEST = 3;

/** How long the socket stays open after she cancelled, for the feedback answer. */
const FEEDBACK_WAIT_MS = 5 * 60_000;

export type IntakeInfo = Extract<Response, { kind: "intake_info" }>;

export type VisitorState =
  | { kind: "connecting" }
  /** `reconnecting`: the connection dropped and the page is getting it back (same identity, nothing lost). */
  | {
      kind: "waiting";
      ticket: TicketState;
      position: number;
      estimatedWaitSecs: number;
      /** Nobody who speaks her language is taking chats now: the estimate is only a guess. */
      nobodyAvailable: boolean;
      lines: ChatLine[];
      reconnecting?: boolean;
    }
  /** `joined`: my client is in the chat's MLS group (the Welcome arrived). */
  | {
      kind: "in_chat";
      ticket: TicketState;
      lines: ChatLine[];
      counsellor: Counsellor | undefined;
      joined: boolean;
      reconnecting?: boolean;
      /** The counsellor is writing (an ephemeral signal, never in `lines`). */
      counsellorTyping?: boolean;
    }
  | { kind: "closed"; reason: string; lines: ChatLine[] }
  /** Refused (busy, rate-limited, closed hours, blocked…) with where else to turn. */
  | { kind: "refused"; code: string; help?: Help; retryAfterSecs?: number; info?: IntakeInfo }
  | { kind: "offline" };

export interface ChatChoice {
  language: string;
  topic: string;
  urgent: boolean;
}

export class VisitorIntake {
  /** She cancelled or ended the ticket herself; the socket waits only for feedback. */
  private cancelled = false;

  private connection: Connection | undefined;
  private session: MailboxSession | undefined;
  private ticket: TicketState | undefined;
  /** The chat's group, once a counsellor opened it. */
  private group: Uint8Array | undefined;
  /** Add-counsellor requests already done or under way, by badge key (hex). */
  private readonly addsDone = new Set<string>();
  /** Old counsellor keys my own reconnect commit removes (no "left" line for them). */
  private readonly replacing = new Set<string>();
  /** Crisis responders already announced in the chat, by badge key (hex). */
  private readonly respondersSeen = new Set<string>();
  private readonly typingWatch = new TypingWatch();
  private saidLeaving = false;
  private readonly typingSender = new TypingSender((signal) => {
    if (this.group !== undefined) this.session?.sendSignal(this.group, signal);
  });
  info: IntakeInfo | undefined;
  /** The language the chat was asked in (for a team message). */
  private language: string | undefined;
  readonly log = new ChatLog(() => this.info?.attestation_key);

  /** Active while the page is getting a dropped connection back. */
  private readonly reconnector = new Reconnector();
  /** The visitor (or quick exit) ended it: never reconnect. */
  private closedByMe = false;

  private constructor(
    readonly mls: MlsClient,
    private readonly onState: (state: VisitorState) => void,
    private readonly openSocket: (() => SocketLike) | undefined,
  ) {}

  /**
   * `openSocket` makes a new socket to the same server, for reconnecting
   * with the same identity when the connection drops (a phone changing
   * networks); without it a drop shows as offline.
   */
  static async create(onState: (state: VisitorState) => void, openSocket?: () => SocketLike): Promise<VisitorIntake> {
    return new VisitorIntake(await MlsClient.create(Identity.generate()), onState, openSocket);
  }

  /** Connect, read the intake settings and ask for a chat. */
  async start(socket: SocketLike, choice: ChatChoice): Promise<void> {
    this.onState({ kind: "connecting" });
    try {
      const connection = await this.connect(socket);
      const info = this.info as IntakeInfo;
      const keyPackages = await this.mls.createKeyPackages(KEY_PACKAGES_PER_REQUEST);
      const request = {
        op: "request_chat" as const,
        language: info.languages.includes(choice.language) ? choice.language : (info.languages[0] ?? choice.language),
        topic: info.topics.includes(choice.topic) ? choice.topic : (info.topics[0] ?? choice.topic),
        urgent: choice.urgent,
        key_packages: keyPackages,
      };
      this.language = request.language;
      let answer: Response;
      try {
        answer = await connection.request(request);
      } catch (e) {
        if (!(e instanceof ServerError) || e.code !== "pow_required" || e.frame.pow === undefined) throw e;
        const nonce = solvePow(e.frame.pow, this.mls.clientId);
        if (nonce === undefined) throw e;
        answer = await connection.request({ ...request, pow: { challenge: e.frame.pow.challenge, nonce } });
      }
      if (answer.kind !== "ticket") throw new Error(`unexpected answer ${answer.kind}`);
      this.update(answer.ticket);
    } catch (e) {
      this.refused(e);
    }
  }

  /**
   * Come back to a chat with the resume code the visitor wrote down. This
   * is a new identity, so it sends fresh key packages: the counsellor
   * re-adds it to the chat (PROTOCOL.md, "Resume").
   */
  async resume(socket: SocketLike, secret: Uint8Array): Promise<void> {
    this.onState({ kind: "connecting" });
    try {
      const connection = await this.connect(socket);
      const keyPackages = await this.mls.createKeyPackages(KEY_PACKAGES_PER_REQUEST);
      const answer = await connection.request({ op: "resume_ticket", resume_secret: secret, key_packages: keyPackages });
      if (answer.kind !== "ticket") throw new Error(`unexpected answer ${answer.kind}`);
      this.update(answer.ticket);
    } catch (e) {
      this.refused(e);
    }
  }

  /** The one-tap anonymous feedback question after a chat the counsellor closed. */
  async feedback(answer: FeedbackAnswer): Promise<void> {
    try {
      const answered = await this.connection?.request({ op: "chat_feedback", answer });
      if (answered?.kind !== "feedback_recorded") throw new Error("feedback not recorded");
    } finally {
      // After she cancelled, the connection was kept open only for this answer.
      if (this.cancelled) this.close();
    }
  }

  /** The current resume secret (the visitor asked to be able to come back). Never stored. */
  get resumeSecret(): Uint8Array | undefined {
    return this.ticket?.resume_secret;
  }

  /**
   * Outside opening hours: seal a message to the team. One key package of
   * each counsellor goes into a new group with me; the message is sent
   * there; the server keeps the group for the next counsellor on shift.
   */
  async leaveTeamMessage(text: string): Promise<TeamMessageOutcome> {
    try {
      return await this.sealForTeam(text);
    } catch (e) {
      const outcome = outcomeOfRefusal(e, this.info?.help);
      if (outcome === undefined) throw e;
      return outcome;
    }
  }

  private async sealForTeam(text: string): Promise<TeamMessageOutcome> {
    const connection = this.connection;
    const session = this.session;
    if (connection === undefined || session === undefined) throw new Error("not connected");
    const answer = await connection.request({ op: "team_key_packages" });
    if (answer.kind !== "team_key_packages") throw new Error(`unexpected answer ${answer.kind}`);
    const keyPackages: Awaited<ReturnType<MlsClient["parseKeyPackage"]>>["keyPackage"][] = [];
    for (const bytes of answer.key_packages) keyPackages.push((await this.mls.parseKeyPackage(bytes)).keyPackage);
    if (keyPackages.length === 0) throw new Error("nobody on the team can receive a message now");
    const group = await session.createGroup();
    await session.commit(group, () => this.mls.commitAdd(group, keyPackages));
    await session.sendText(group, text);
    const left = await connection.request({ op: "leave_team_message", group_id: group, language: this.language ?? "en" });
    if (left.kind !== "team_message_left") throw new Error(`unexpected answer ${left.kind}`);
    this.mls.discardGroup(group);
    return outcomeOfDelivery(left.delivered_to, this.info?.help);
  }

  /**
   * Tell the server I am leaving (quick exit, or the page closing), so my
   * counsellor knows at once and a waiting ticket is not offered. Best
   * effort: the frame goes out before the socket closes.
   */
  sayLeaving(quickExit: boolean): void {
    // Once: the tab closing after a quick exit says nothing more.
    if (this.ticket === undefined || this.connection === undefined || this.saidLeaving) return;
    this.saidLeaving = true;
    void this.connection.request(quickExit ? { op: "visitor_leaving", quick_exit: true } : { op: "visitor_leaving" }).catch(() => {});
  }

  private refused(e: unknown): void {
    if (e instanceof ServerError) {
      const refusal: VisitorState = { kind: "refused", code: e.code };
      if (e.frame.help !== undefined) refusal.help = e.frame.help;
      if (e.frame.retry_after_secs !== undefined) refusal.retryAfterSecs = e.frame.retry_after_secs;
      if (this.info !== undefined) refusal.info = this.info;
      this.onState(refusal);
    } else {
      this.onState({ kind: "offline" });
    }
  }

  private async connect(socket: SocketLike): Promise<Connection> {
    const { connection, authenticated } = await Connection.open(
      socket,
      (nonce) => this.mls.identity.authenticate(nonce),
      {
        onPush: (push) => this.push(push),
        onClose: (code) => this.dropped(code),
      },
    );
    this.connection = connection;
    if (this.session === undefined) {
      this.session = new MailboxSession(connection, this.mls, (event) => this.mlsEvent(event));
      await this.session.subscribe(authenticated.mailbox_head);
    } else {
      await this.session.reconnected(connection, authenticated.mailbox_head);
    }
    const info = await connection.request({ op: "intake_info" });
    if (info.kind !== "intake_info") throw new Error(`unexpected answer ${info.kind}`);
    this.info = info;
    return connection;
  }

  /** Give up the ticket. */
  async cancel(): Promise<void> {
    const ticket = this.ticket;
    if (ticket !== undefined && this.connection !== undefined) {
      try {
        await this.connection.request({ op: "cancel_ticket", ticket_id: ticket.ticket_id });
      } catch {
        // Closing the connection abandons the ticket anyway.
      }
    }
    this.onState({ kind: "closed", reason: "cancelled", lines: this.log.lines });
    // The connection stays open for the one feedback answer (the server
    // accepts it for a cancelled ticket), then closes; no reconnecting.
    this.closedByMe = true;
    this.cancelled = true;
    setTimeout(() => this.close(), FEEDBACK_WAIT_MS);
  }

  /**
   * The socket closed. While a ticket is open and the server did not
   * replace this connection or refuse it (net/reconnect.ts), get it back
   * with the same identity: the server pushes the ticket again and the
   * mailbox carries on.
   */
  private dropped(code: number): void {
    const open = this.ticket !== undefined && this.ticket.status.state !== "closed";
    const openSocket = this.openSocket;
    if (this.closedByMe || !open || afterClose(code) !== "reconnect" || openSocket === undefined) {
      if (!this.closedByMe && this.ticket?.status.state !== "closed") this.onState({ kind: "offline" });
      return;
    }
    const outcome = this.reconnector.run({
      attempt: async () => void (await this.connect(openSocket())),
      stopped: () => this.closedByMe,
      deadline: Date.now() + (this.ticket?.resume_grace_secs ?? 600) * 1000,
    });
    if (outcome === undefined) return;
    this.emit();
    void outcome.then((o) => {
      if (o.kind === "connected") {
        this.emit();
        void this.retryFailed();
      } else if (o.kind === "expired") {
        this.onState({ kind: "offline" });
      }
    });
  }

  /** After a reconnect, messages that failed while offline go again. */
  private async retryFailed(): Promise<void> {
    for (const line of this.log.lines) {
      if (line.kind === "mine" && line.delivery === "failed") this.retry(line.id);
    }
  }

  /** Drop the connection and every key (quick exit, end of chat). */
  close(): void {
    this.closedByMe = true;
    if (this.session !== undefined) this.session.close();
    else this.connection?.close();
    this.connection = undefined;
    this.session = undefined;
    this.mls.wipe();
  }

  /** Write a message: sent at once in a chat, or kept (in memory) until the counsellor has joined. */
  /** The visitor is writing: the counsellor sees "typing" (inside MLS). */
  typing(): void {
    this.typingSender.input();
  }

  send(text: string): void {
    this.typingSender.sent();
    const group = this.group;
    if (group === undefined || !this.mls.hasGroup(group)) {
      this.log.mine(text, "queued");
      this.emit();
      return;
    }
    const id = this.log.mine(text, "sending");
    this.emit();
    void this.deliver(group, id, text);
  }

  /** Try a failed message again. */
  retry(id: number): void {
    const line = this.log.lines.find((l) => l.id === id);
    if (line?.kind !== "mine" || line.delivery !== "failed" || this.group === undefined) return;
    this.log.setDelivery(id, "sending");
    this.emit();
    void this.deliver(this.group, id, line.text);
  }

  private async deliver(group: Uint8Array, id: number, text: string): Promise<void> {
    try {
      await this.session?.sendText(group, text);
      this.log.setDelivery(id, "sent");
    } catch {
      this.log.setDelivery(id, "failed");
    }
    this.emit();
  }

  /**
   * Hook for the escalation flow: a crisis responder with this badge joins
   * the chat. Adds the system line; "verified" follows the same badge check.
   */
  noteEscalation(badge: StaffBadge): void {
    const tag = Array.from(badge.signature_key).join(",");
    if (this.respondersSeen.has(tag)) return;
    this.respondersSeen.add(tag);
    const key = this.log.checkBadge(badge);
    if (key !== undefined) this.log.knowStaff(key, badge.display_name, true);
    this.log.system("crisis_joined", badge.display_name);
    this.emit();
  }

  /**
   * "I'm in danger now": tell the server (the ticket becomes urgent, or my
   * counsellor is alerted) and get its numbers. Undefined without a
   * connection; the page shows its own numbers before asking anyway.
   */
  async sos(): Promise<Help | undefined> {
    const connection = this.connection;
    if (connection === undefined || this.closedByMe) return undefined;
    const ticket = this.ticket;
    const open = ticket !== undefined && ticket.status.state !== "closed";
    const answer = await connection.request(open ? { op: "sos", ticket_id: ticket.ticket_id } : { op: "sos" });
    if (answer.kind !== "sos_raised") return undefined;
    // Say in the chat what pressing it did, so she is not left wondering.
    if (open && ticket !== undefined) {
      this.log.system(ticket.status.state === "in_chat" ? "sos_alerted" : "sos_urgent");
      this.emit();
    }
    if (answer.ticket !== undefined) this.update(answer.ticket);
    return answer.help;
  }

  private push(push: Push): void {
    if (push.type === "ticket_update") this.update(push.ticket);
    else if (push.type === "escalation_fallback") {
      if (this.group !== undefined && equalBytes(push.group_id, this.group)) {
        this.log.numbers("crisis_fallback", push.help.crisis_lines);
        this.emit();
      }
    } else if (push.type === "counsellor_reconnected") void this.bringCounsellorBack(push);
    else if (push.type === "remove_revoked_members") void this.removeRevoked(push.group_id, push.clients);
    else this.session?.push(push);
  }

  /**
   * My counsellor lost her state and came back with a new key (PROTOCOL.md,
   * "Staff keys and the account lifecycle"): check the new badge (valid,
   * the same account tag, name and role as my counsellor's, the key
   * package is its key's), then add it and remove the old key in one
   * commit. Refused for good otherwise.
   */
  private async bringCounsellorBack(push: {
    group_id: Uint8Array;
    old_client: Uint8Array;
    key_package: Uint8Array;
    badge: StaffBadge;
  }): Promise<void> {
    const status = this.ticket?.status;
    const group = this.group;
    if (status?.state !== "in_chat" || group === undefined || !equalBytes(push.group_id, group)) return;
    const tag = `reconnect:${Array.from(push.badge.signature_key).join(",")}`;
    if (this.addsDone.has(tag)) return;
    this.addsDone.add(tag);
    if (!(await this.session?.waitForGroup(group, JOIN_WAIT_MS))) {
      this.addsDone.delete(tag);
      return;
    }
    const mine = status.counsellor;
    const sameAccount =
      push.badge.account_tag !== undefined &&
      push.badge.account_tag.length > 0 &&
      mine.account_tag !== undefined &&
      equalBytes(mine.account_tag, push.badge.account_tag) &&
      mine.role === push.badge.role &&
      mine.display_name === push.badge.display_name;
    const key = sameAccount ? this.log.checkBadge(push.badge) : undefined;
    const keyPackage = key === undefined ? undefined : await this.mls.validateKeyPackage(push.key_package, key).catch(() => undefined);
    if (key === undefined || keyPackage === undefined) {
      this.log.system("unverified_member");
      this.emit();
      return;
    }
    this.log.knowStaff(key, push.badge.display_name, true);
    this.replacing.add(Array.from(push.old_client).join(","));
    try {
      await this.session?.commit(group, () => this.mls.commitReplace(group, [push.old_client], [keyPackage]));
      const members = this.mls.members(group).map((m) => m.clientId);
      this.log.setCounsellor(push.badge, members);
      this.log.system("counsellor_reconnected");
    } catch {
      // Not through (connection, lost epochs): the server asks again when
      // I reconnect.
      this.addsDone.delete(tag);
    }
    this.emit();
  }

  /** A staff account in my chat was disabled or reset: remove its leaves (any member may). */
  private async removeRevoked(groupId: Uint8Array, clients: Uint8Array[]): Promise<void> {
    const group = this.group;
    if (group === undefined || !equalBytes(groupId, group) || clients.some((c) => equalBytes(c, this.mls.clientId))) return;
    if (!(await this.session?.waitForGroup(group, JOIN_WAIT_MS))) return;
    try {
      await this.session?.commit(group, () => this.mls.commitRemove(group, clients));
      this.log.membersChanged(this.mls.members(group).map((m) => m.clientId));
    } catch {
      // Asked again when I reconnect.
    }
    this.emit();
  }

  /** A crisis responder the ticket vouches for, for this member key (badge, role and key checked). */
  private responderFor(member: Uint8Array): StaffBadge | undefined {
    const status = this.ticket?.status;
    if (status?.state !== "in_chat") return undefined;
    return crisisResponderFor(member, status.responders, this.info?.attestation_key, Math.floor(Date.now() / 1000));
  }

  private mlsEvent(event: MlsEvent): void {
    const group = this.group;
    if (group === undefined || !equalBytes(event.groupId, group)) return;
    switch (event.kind) {
      case "joined":
        this.log.membersChanged(event.members);
        this.emit();
        void this.performDuties();
        void this.sendQueued(group);
        return;
      case "message": {
        const signal = typingSignal(event.plaintext);
        if (signal !== undefined) {
          // Ephemeral: shown for a moment, never written to the log.
          this.typingWatch.signal(signal);
          this.emit();
          if (signal === "start") setTimeout(() => this.emit(), TYPING_IDLE_MS + 50);
          return;
        }
        const text = decodeText(event.plaintext);
        if (text !== undefined) {
          this.typingWatch.message();
          this.log.theirs(event.sender, text);
        }
        this.emit();
        return;
      }
      case "commit": {
        const members = this.mls.hasGroup(group) ? this.mls.members(group).map((m) => m.clientId) : [];
        for (const added of event.added) {
          const responder = this.responderFor(added);
          if (responder !== undefined) this.noteEscalation(responder);
          else if (!this.log.isKnownStaff(added)) this.log.system("unverified_member");
        }
        const replaced = event.removed.every((r) => this.replacing.has(Array.from(r).join(",")));
        if (event.removed.length > 0 && !event.removedMe && !replaced) this.log.system("previous_counsellor_left");
        this.log.membersChanged(members);
        this.emit();
        return;
      }
      case "skipped":
        return;
    }
  }

  private async sendQueued(group: Uint8Array): Promise<void> {
    for (const { id, text } of this.log.queued()) {
      this.log.setDelivery(id, "sending");
      this.emit();
      await this.deliver(group, id, text);
    }
  }

  /** Add the counsellor the server asks me to, once I am in the group (transfer, hand-over). */
  private async performDuties(): Promise<void> {
    const status = this.ticket?.status;
    const group = this.group;
    if (status?.state !== "in_chat" || status.add_counsellor === undefined || group === undefined) return;
    const add = status.add_counsellor;
    const tag = Array.from(add.badge.signature_key).join(",");
    if (this.addsDone.has(tag)) return;
    this.addsDone.add(tag);
    if (!(await this.session?.waitForGroup(group, JOIN_WAIT_MS))) {
      this.addsDone.delete(tag);
      return;
    }
    // Nobody joins on the server's word alone: a badge that does not
    // verify, or a key package that is not the badge's, is refused for good.
    const key = this.log.checkBadge(add.badge);
    const keyPackage = key === undefined ? undefined : await this.mls.validateKeyPackage(add.key_package, key).catch(() => undefined);
    if (key === undefined || keyPackage === undefined) {
      this.log.system("unverified_member");
      this.emit();
      return;
    }
    this.log.knowStaff(key, add.badge.display_name, true);
    try {
      await this.session?.commit(group, () => this.mls.commitAdd(group, [keyPackage]));
      this.log.system("new_counsellor_joined", add.badge.display_name);
    } catch {
      // The commit did not go through (connection, lost epochs): the next
      // ticket push (after a reconnect, for one) asks again.
      this.addsDone.delete(tag);
    }
    this.emit();
  }

  private emit(): void {
    const ticket = this.ticket;
    if (ticket === undefined) return;
    const status = ticket.status;
    const lines = this.log.lines;
    switch (status.state) {
      case "waiting":
        this.onState({
          kind: "waiting",
          ticket,
          position: status.position,
          estimatedWaitSecs: status.estimated_wait_secs,
          nobodyAvailable: status.nobody_available === true,
          lines,
          reconnecting: this.reconnector.active,
        });
        break;
      case "in_chat":
        this.onState({
          kind: "in_chat",
          ticket,
          lines,
          counsellor: this.log.counsellor,
          joined: this.group !== undefined && this.mls.hasGroup(this.group),
          reconnecting: this.reconnector.active,
          counsellorTyping: this.typingWatch.typing,
        });
        break;
      case "closed":
        this.onState({ kind: "closed", reason: status.reason, lines });
        break;
    }
  }

  private update(ticket: TicketState): void {
    // The resume secret arrives once; keep it in memory only (never stored).
    const resume = ticket.resume_secret ?? this.ticket?.resume_secret;
    const before = this.ticket?.status;
    this.ticket = resume === undefined ? ticket : { ...ticket, resume_secret: resume };
    const status = ticket.status;
    if (status.state === "in_chat") {
      const first = before?.state !== "in_chat";
      this.group = status.group_id;
      const members = this.mls.hasGroup(status.group_id) ? this.mls.members(status.group_id).map((m) => m.clientId) : undefined;
      const changed = before?.state !== "in_chat" || !equalBytes(before.counsellor.signature_key, status.counsellor.signature_key);
      if (changed) this.log.setCounsellor(status.counsellor, members);
      if (first && status.transferred !== true) this.log.system("counsellor_joined", status.counsellor.display_name);
      if (status.transferred === true && status.add_counsellor !== undefined && (before?.state !== "in_chat" || before.add_counsellor === undefined)) {
        this.log.system(status.rescued === true ? "rescued" : "transferred");
      }
      // The ticket may name a responder after the commit that added them arrived.
      if (members !== undefined) {
        for (const member of members) {
          const responder = this.responderFor(member);
          if (responder !== undefined) this.noteEscalation(responder);
        }
      }
      void this.performDuties();
    } else if (status.state === "closed") {
      if (this.group !== undefined) this.mls.discardGroup(this.group);
      if (before !== undefined && before.state !== "closed") this.log.system("ended");
    }
    this.emit();
  }
}
