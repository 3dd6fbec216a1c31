// The visitor's way into a chat (PROTOCOL.md, "Intake"): a fresh anonymous
// identity, `intake_info`, one-time key packages, `request_chat` (solving the
// proof of work if the server asks for it), then the ticket as the server
// pushes it, until a counsellor has the chat, or the visitor cancels.
// Nothing is stored; the identity and keys live in this object only.

import { Identity, MlsClient } from "../mls";
import type { Help, Response, TicketState } from "../protocol";
import { solvePow } from "../protocol";
import { Connection, type Push, ServerError, type SocketLike } from "../net/connection";

/** One-time key packages sent with the request (the server keeps them for the chat). */
export const KEY_PACKAGES_PER_REQUEST = 3;

export type IntakeInfo = Extract<Response, { kind: "intake_info" }>;

export type VisitorState =
  | { kind: "connecting" }
  | { kind: "waiting"; ticket: TicketState; position: number; estimatedWaitSecs: number }
  | { kind: "in_chat"; ticket: TicketState }
  | { kind: "closed"; reason: string }
  /** Refused (busy, rate-limited, closed hours, blocked…) with where else to turn. */
  | { kind: "refused"; code: string; help?: Help; retryAfterSecs?: number }
  | { kind: "offline" };

export interface ChatChoice {
  language: string;
  topic: string;
  urgent: boolean;
}

export class VisitorIntake {
  private connection: Connection | undefined;
  private ticket: TicketState | undefined;
  info: IntakeInfo | undefined;

  private constructor(
    readonly mls: MlsClient,
    private readonly onState: (state: VisitorState) => void,
  ) {}

  static async create(onState: (state: VisitorState) => void): Promise<VisitorIntake> {
    return new VisitorIntake(await MlsClient.create(Identity.generate()), onState);
  }

  /** Connect, read the intake settings and ask for a chat. */
  async start(socket: SocketLike, choice: ChatChoice): Promise<void> {
    this.onState({ kind: "connecting" });
    try {
      const { connection } = await Connection.open(socket, (nonce) => this.mls.identity.authenticate(nonce), {
        onPush: (push) => this.push(push),
        onClose: () => {
          if (this.ticket === undefined || this.ticket.status.state === "waiting") this.onState({ kind: "offline" });
        },
      });
      this.connection = connection;
      const info = await connection.request({ op: "intake_info" });
      if (info.kind !== "intake_info") throw new Error(`unexpected answer ${info.kind}`);
      this.info = info;
      const keyPackages = await this.mls.createKeyPackages(KEY_PACKAGES_PER_REQUEST);
      const request = {
        op: "request_chat" as const,
        language: info.languages.includes(choice.language) ? choice.language : (info.languages[0] ?? choice.language),
        topic: info.topics.includes(choice.topic) ? choice.topic : (info.topics[0] ?? choice.topic),
        urgent: choice.urgent,
        key_packages: keyPackages,
      };
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
      if (e instanceof ServerError) {
        const refusal: VisitorState = { kind: "refused", code: e.code };
        if (e.frame.help !== undefined) refusal.help = e.frame.help;
        if (e.frame.retry_after_secs !== undefined) refusal.retryAfterSecs = e.frame.retry_after_secs;
        this.onState(refusal);
      } else {
        this.onState({ kind: "offline" });
      }
    }
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
    this.onState({ kind: "closed", reason: "cancelled" });
    this.close();
  }

  /** Drop the connection and every key (quick exit, end of chat). */
  close(): void {
    this.connection?.close();
    this.connection = undefined;
    this.mls.wipe();
  }

  private push(push: Push): void {
    if (push.type === "ticket_update") this.update(push.ticket);
  }

  private update(ticket: TicketState): void {
    // The resume secret arrives once; keep it in memory only (never stored).
    const resume = ticket.resume_secret ?? this.ticket?.resume_secret;
    this.ticket = resume === undefined ? ticket : { ...ticket, resume_secret: resume };
    const status = ticket.status;
    switch (status.state) {
      case "waiting":
        this.onState({
          kind: "waiting",
          ticket: this.ticket,
          position: status.position,
          estimatedWaitSecs: status.estimated_wait_secs,
        });
        break;
      case "in_chat":
        this.onState({ kind: "in_chat", ticket: this.ticket });
        break;
      case "closed":
        this.onState({ kind: "closed", reason: status.reason });
        break;
    }
  }
}
