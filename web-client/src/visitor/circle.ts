// A peer support circle from the visitor's side (PROTOCOL.md, "Peer support
// circles"): open an invitation, pick a name for this circle only, ask to
// join with a fresh identity, wait for a moderator's client to add us, then
// talk. Every circle gets its own identity and connection, so nothing links
// it to another circle or to a chat. Nothing is stored.

import { MailboxSession, decodeText } from "../chat/session";
import { Identity, MlsClient, type MlsEvent, equalBytes } from "../mls";
import type { CircleMember, InvitationPreview } from "../protocol";
import { Connection, type Push, ServerError, type SocketLike } from "../net/connection";

/** The most lines kept on screen. */
const MAX_LINES = 1000;

export type CircleLine =
  | { kind: "mine"; id: number; text: string; delivery: "sending" | "sent" | "failed" }
  /** `from`: the name the server bound to the sender (`confirmed`); `staff`: a counsellor. */
  | { kind: "theirs"; id: number; text: string; from: string; confirmed?: boolean; staff?: boolean }
  | { kind: "system"; id: number; event: "joined" | "muted" | "ended" };

type NewLine = CircleLine extends infer L ? (L extends CircleLine ? Omit<L, "id"> : never) : never;

export type CircleState =
  | { kind: "loading" }
  | { kind: "preview"; preview: InvitationPreview }
  | { kind: "waiting"; preview: InvitationPreview; name: string }
  | { kind: "in_circle"; preview: InvitationPreview; name: string; lines: CircleLine[] }
  | { kind: "left" }
  | { kind: "ended"; lines: CircleLine[] }
  /** The invitation or the request was refused; `code` is the server's error code. */
  | { kind: "refused"; code: string }
  | { kind: "offline" };

/**
 * What a circle message carries inside MLS: the sender's name in this
 * circle and the text. A plain text (the Rust CLI sends those) is shown
 * as it is, without a name.
 */
export function encodeCircleText(name: string, text: string): string {
  return JSON.stringify({ n: name, t: text });
}

/**
 * Whether a Welcome is the one this page asked for: to the invitation's
 * circle, after asking to join. Any other group someone adds this key to
 * is refused (its state is thrown away).
 */
export function acceptsWelcome(preview: InvitationPreview | undefined, asked: boolean, groupId: Uint8Array): boolean {
  return preview !== undefined && asked && equalBytes(preview.group_id, groupId);
}

/**
 * Who a message is from: the name the server bound to the sender's key
 * when she joined (a counsellor's: her display name), never the name the
 * message itself claims. A key the roster does not know yet is shown as
 * not confirmed.
 */
export function senderName(roster: readonly CircleMember[], sender: Uint8Array): { name: string; confirmed: boolean; staff: boolean } {
  const member = roster.find((m) => equalBytes(m.client_id, sender));
  if (member === undefined || member.display_name === "") return { name: "", confirmed: false, staff: false };
  return { name: member.display_name, confirmed: true, staff: member.staff === true };
}

export function decodeCircleText(plaintext: string): { name: string; text: string } {
  try {
    const v: unknown = JSON.parse(plaintext);
    if (typeof v === "object" && v !== null) {
      const { n, t } = v as { n?: unknown; t?: unknown };
      if (typeof n === "string" && typeof t === "string") return { name: n.slice(0, 40), text: t };
    }
  } catch {
    // not ours: plain text
  }
  return { name: "", text: plaintext };
}

export class VisitorCircle {
  private connection: Connection | undefined;
  private session: MailboxSession | undefined;
  private preview: InvitationPreview | undefined;
  private name = "";
  private groupId: Uint8Array | undefined;
  private lines: CircleLine[] = [];
  private nextId = 1;
  private closed = false;
  /** I sent `join_circle`: only then is a Welcome expected. */
  private asked = false;
  /** The names the server bound to members' keys (refreshed on every membership change). */
  private roster: CircleMember[] = [];

  private constructor(
    private readonly mls: MlsClient,
    private readonly code: string,
    private readonly onState: (state: CircleState) => void,
  ) {}

  /** Open the invitation `code` over `socket` with a fresh identity. */
  static async open(code: string, socket: SocketLike, onState: (state: CircleState) => void): Promise<VisitorCircle> {
    const circle = new VisitorCircle(await MlsClient.create(Identity.generate()), code, onState);
    onState({ kind: "loading" });
    try {
      const { connection, authenticated } = await Connection.open(
        socket,
        (nonce) => circle.mls.identity.authenticate(nonce),
        { onPush: (push) => circle.push(push), onClose: () => circle.dropped() },
      );
      circle.connection = connection;
      circle.session = new MailboxSession(connection, circle.mls, (event) => circle.mlsEvent(event));
      await circle.session.subscribe(authenticated.mailbox_head);
      const answer = await connection.request({ op: "preview_invitation", code });
      if (answer.kind !== "invitation_preview") throw new Error(`unexpected answer ${answer.kind}`);
      circle.preview = answer.preview;
      onState({ kind: "preview", preview: answer.preview });
    } catch (e) {
      circle.refused(e);
    }
    return circle;
  }

  private refused(e: unknown): void {
    if (e instanceof ServerError) this.onState({ kind: "refused", code: e.frame.code });
    else this.onState({ kind: "offline" });
  }

  /** Ask to join under `name` (for this circle only). */
  async join(name: string): Promise<void> {
    const connection = this.connection;
    const preview = this.preview;
    if (connection === undefined || preview === undefined) return;
    this.name = name.trim().slice(0, 40);
    try {
      const [keyPackage] = await this.mls.createKeyPackages(1);
      if (keyPackage === undefined) throw new Error("no key package");
      const answer = await connection.request({
        op: "join_circle",
        code: this.code,
        display_name: this.name,
        key_package: keyPackage,
      });
      if (answer.kind !== "join_requested") throw new Error(`unexpected answer ${answer.kind}`);
      this.asked = true;
      if (this.groupId === undefined) this.onState({ kind: "waiting", preview, name: this.name });
    } catch (e) {
      this.refused(e);
    }
  }

  private add(line: NewLine): number {
    const id = this.nextId++;
    this.lines = [...this.lines, { ...line, id } as CircleLine].slice(-MAX_LINES);
    return id;
  }

  private show(): void {
    if (this.closed || this.preview === undefined || this.groupId === undefined) return;
    this.onState({ kind: "in_circle", preview: this.preview, name: this.name, lines: this.lines });
  }

  private mlsEvent(event: MlsEvent): void {
    switch (event.kind) {
      case "joined":
        // Only the Welcome to the circle we asked to join; anything else
        // someone added this key to is dropped unread.
        if (this.groupId === undefined && acceptsWelcome(this.preview, this.asked, event.groupId)) {
          this.groupId = event.groupId;
          this.add({ kind: "system", event: "joined" });
          this.show();
          void this.refreshRoster();
        } else if (this.groupId === undefined || !equalBytes(event.groupId, this.groupId)) {
          this.mls.discardGroup(event.groupId);
        }
        break;
      case "message": {
        if (this.groupId === undefined || !equalBytes(event.groupId, this.groupId)) return;
        const plain = decodeText(event.plaintext);
        if (plain === undefined) return;
        const { text } = decodeCircleText(plain);
        const sender = senderName(this.roster, event.sender);
        this.add({ kind: "theirs", text, from: sender.name, confirmed: sender.confirmed, staff: sender.staff });
        this.show();
        break;
      }
      case "commit":
        if (event.removedMe) this.ended();
        else if (this.groupId !== undefined && equalBytes(event.groupId, this.groupId)) void this.refreshRoster();
        break;
      default:
        break;
    }
  }

  /** Fetch who is in the circle under which name, and rename lines that were waiting for it. */
  private async refreshRoster(): Promise<void> {
    const connection = this.connection;
    const preview = this.preview;
    if (connection === undefined || preview === undefined) return;
    try {
      const answer = await connection.request({ op: "circle_roster", circle_id: preview.circle_id });
      if (answer.kind !== "circle_roster") return;
      this.roster = answer.members;
    } catch {
      // Keep the last roster: names stay as they were.
    }
  }

  private push(push: Push): void {
    if (push.type === "envelope") this.session?.push(push);
    else if (push.type === "circle_ended") this.ended();
  }

  private ended(): void {
    if (this.closed) return;
    this.add({ kind: "system", event: "ended" });
    this.onState({ kind: "ended", lines: this.lines });
    this.close();
  }

  private dropped(): void {
    if (!this.closed) this.onState({ kind: "offline" });
  }

  /** Send a message to the circle. */
  async send(text: string): Promise<void> {
    const session = this.session;
    const groupId = this.groupId;
    if (session === undefined || groupId === undefined || text.trim() === "") return;
    const id = this.add({ kind: "mine", text, delivery: "sending" });
    this.show();
    const set = (delivery: "sent" | "failed") => {
      this.lines = this.lines.map((l) => (l.id === id && l.kind === "mine" ? { ...l, delivery } : l));
    };
    try {
      await session.sendText(groupId, encodeCircleText(this.name, text));
      set("sent");
    } catch (e) {
      set("failed");
      if (e instanceof ServerError && e.frame.code === "muted") this.add({ kind: "system", event: "muted" });
    }
    this.show();
  }

  /** Leave: the server stops delivering to this identity at once; the keys are wiped. */
  async leave(): Promise<void> {
    const connection = this.connection;
    const preview = this.preview;
    try {
      if (connection !== undefined && preview !== undefined && this.groupId !== undefined) {
        await connection.request({ op: "leave_circle", circle_id: preview.circle_id });
      }
    } finally {
      this.onState({ kind: "left" });
      this.close();
    }
  }

  /** Forget everything (quick exit, leaving, or the circle ended). */
  close(): void {
    this.closed = true;
    this.session?.close();
    this.mls.wipe();
  }
}
