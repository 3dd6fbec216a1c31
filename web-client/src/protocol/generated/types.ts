// GENERATED from the Rust definitions in protocol/src: do not edit.
// The types of protocol version 1: frames, requests, responses, notices, errors.
// The wire description is protocol/tests/typescript/schema.rs, checked
// against the serde types; the documentation is on the Rust types.
// Regenerate: PARASOL_WRITE_TS=1 cargo test -p parasol-protocol --test typescript
// (without the variable the same test fails when this file is stale).

/** A MessagePack `bin`. Integers are numbers: the protocol keeps them below 2^53. */
export type Bytes = Uint8Array;

/** The protocol version this client speaks, carried in every frame as `v`. */
export const PROTOCOL_VERSION = 1;

/** The WebSocket path of protocol version 1. */
export const WEBSOCKET_PATH = "/v1/ws";

/** What a staff member may do. Stored and sent as snake_case strings. */
export type StaffRole = "counsellor" | "supervisor" | "crisis_responder" | "admin";
export const STAFF_ROLES: readonly StaffRole[] = [
  "counsellor",
  "supervisor",
  "crisis_responder",
  "admin",
];

/** A counsellor's shift state. Set explicitly, never guessed. */
export type ShiftState = "clocked_in" | "available" | "on_break" | "clocked_out";
export const SHIFT_STATES: readonly ShiftState[] = [
  "clocked_in",
  "available",
  "on_break",
  "clocked_out",
];

export type ClosedReason = "cancelled" | "closed" | "abandoned" | "blocked";
export const CLOSED_REASONS: readonly ClosedReason[] = [
  "cancelled",
  "closed",
  "abandoned",
  "blocked",
];

export type StrandedReason = "offline" | "clocked_out";
export const STRANDED_REASONS: readonly StrandedReason[] = [
  "offline",
  "clocked_out",
];

/**
 * What a chat's counsellor is told about her visitor's connection. Only
 * the state, never where from or for how long.
 */
export type VisitorPresence = "here" | "reconnecting" | "left" | "quick_exit";
export const VISITOR_PRESENCES: readonly VisitorPresence[] = [
  "here",
  "reconnecting",
  "left",
  "quick_exit",
];

/**
 * The one feedback question after a chat: did it help? Counted per day,
 * never linked to a chat or a visitor.
 */
export type FeedbackAnswer = "helped" | "somewhat" | "not_helped";
export const FEEDBACK_ANSWERS: readonly FeedbackAnswer[] = [
  "helped",
  "somewhat",
  "not_helped",
];

/**
 * How a client proves who it is: an anonymous key alone, or a staff
 * session (from the HTTPS login) plus the key it binds for this session.
 */
export type AuthProof =
  /** Ed25519 signature over `auth_transcript(nonce, public_key)`. */
  | { method: "ed25519_challenge"; public_key: Bytes; signature: Bytes }
  /**
   * A staff session token, and the Ed25519 signature over the same
   * transcript proving the key this session uses in MLS.
   */
  | { method: "staff_session"; token: string; public_key: Bytes; signature: Bytes };

/**
 * A proof-of-work puzzle: find `nonce` (at most 16 bytes) such that
 * SHA-256("parasol/v1/pow" ‖ challenge ‖ client id ‖ nonce) starts with
 * `difficulty_bits` zero bits.
 */
export interface PowChallenge {
  challenge: Bytes;
  difficulty_bits: number;
}

export interface PowSolution {
  challenge: Bytes;
  nonce: Bytes;
}

/** A name in one language (`language`: a code of `intake.languages`). */
export interface LocalName {
  language: string;
  name: string;
}

/** A crisis line shown to visitors who cannot be served now. */
export interface CrisisLine {
  /** The name in the deployment's default language. */
  name: string;
  /**
   * The name in other languages; a client shows the one of its page's
   * language, else `name`.
   */
  names?: LocalName[];
  number: string;
  /** When it answers, in words, e.g. "24/7". */
  hours: string;
}

/** What every refused or off-hours visitor gets: where else to turn. */
export interface Help {
  crisis_lines: CrisisLine[];
  /** When the service opens next (Unix seconds), if it is closed. */
  next_open_at?: number;
}

/** One opening window of the service, in its time zone. */
export interface OpeningWindow {
  /** 1 = Monday … 7 = Sunday. */
  weekday: number;
  /** Minutes after midnight. */
  opens: number;
  closes: number;
}

/**
 * The server's statement that a signature key belongs to a staff member
 * with this role and display name, until `expires_at`. `attestation` is
 * the server's Ed25519 signature over
 * [`crate::staff::attestation_transcript`]; clients verify it with the
 * attestation key from `intake_info`.
 */
export interface StaffBadge {
  display_name: string;
  role: StaffRole;
  signature_key: Bytes;
  expires_at: number;
  attestation: Bytes;
  /**
   * Opaque, the same for every key of one staff account and different
   * between accounts (16 bytes; empty on badges from before it
   * existed). Covered by the attestation
   * ([`crate::staff::tagged_attestation_transcript`]).
   */
  account_tag?: Bytes;
}

/** A counsellor the visitor's client is asked to add to its chat. */
export interface CounsellorToAdd {
  badge: StaffBadge;
  /**
   * A key package of the counsellor; its credential key must equal the
   * badge's `signature_key`.
   */
  key_package: Bytes;
}

export type TicketStatus =
  /**
   * In the queue. `position` counts from 1 among the waiting tickets of
   * the same language, in serving order (urgent first, then oldest).
   *
   * `nobody_available`: no counsellor who speaks the ticket's language
   * is taking chats right now (all on break, clocked out or offline).
   * `estimated_wait_secs` is then only a guess from past waits, and the
   * client says so instead of showing it as a time. Absent means false.
   */
  | { state: "waiting"; position: number; estimated_wait_secs: number; nobody_available?: boolean }
  /**
   * A counsellor has the chat. When `add_counsellor` is set, the
   * visitor's client must add that counsellor to the group (transfer or
   * hand-over), after checking the badge.
   */
  | {
      state: "in_chat";
      group_id: Bytes;
      counsellor: StaffBadge;
      transferred?: boolean;
      add_counsellor?: CounsellorToAdd;
      /**
       * Crisis responders brought in by an escalation: the client shows
       * "a crisis counsellor has joined" when the commit adding one of
       * these keys arrives, after checking the badge.
       */
      responders?: StaffBadge[];
      /**
       * Set with `add_counsellor` when a supervisor moved the chat
       * because its counsellor was away (`rescue_chat`): the client
       * tells the visitor so in words.
       */
      rescued?: boolean;
    }
  /** The ticket ended; nothing more will happen on it. */
  | { state: "closed"; reason: ClosedReason };

/** Where a visitor's ticket stands, as the visitor sees it. */
export interface TicketState {
  ticket_id: number;
  status: TicketStatus;
  /**
   * Present only in the answer that creates or resumes the ticket: the
   * secret that lets a new connection reclaim it. The server keeps only
   * its hash.
   */
  resume_secret?: Bytes;
  /**
   * Seconds a disconnected visitor has to come back before the ticket
   * is given up.
   */
  resume_grace_secs: number;
}

/** A ticket as staff see it: no content, no visitor identifier. */
export interface QueueEntry {
  ticket_id: number;
  language: string;
  topic: string;
  urgent: boolean;
  waited_secs: number;
  /** Currently offered to a counsellor. */
  offered: boolean;
  /** A chat handed back by a counsellor who clocked out. */
  handover?: boolean;
}

/** One staff member on the supervisor board. */
export interface BoardRow {
  /** For `rescue_chat`'s `to` (an opaque number). */
  account_id: number;
  display_name: string;
  role: StaffRole;
  shift: ShiftState;
  connected: boolean;
  active_chats: number;
  max_chats: number;
}

/**
 * A chat whose counsellor cannot answer it: she is offline, or clocked
 * out with it still open. A supervisor may `rescue_chat` it.
 */
export interface StrandedChat {
  ticket_id: number;
  group_id: Bytes;
  language: string;
  /** The counsellor's display name and account. */
  counsellor: string;
  counsellor_account: number;
  reason: StrandedReason;
}

/** A sealed message left for the team outside opening hours. */
export interface TeamMessage {
  group_id: Bytes;
  language: string;
  left_at: number;
}

/** A staff session's own view of itself. */
export interface StaffSelf {
  account_id: number;
  role: StaffRole;
  display_name: string;
  languages: string[];
  max_chats: number;
  badge: StaffBadge;
}

export type Severity = "high" | "critical";
export const SEVERITIES: readonly Severity[] = [
  "high",
  "critical",
];

export type Category = "violence" | "trafficking" | "medical" | "suicide_risk" | "other";
export const CATEGORIES: readonly Category[] = [
  "violence",
  "trafficking",
  "medical",
  "suicide_risk",
  "other",
];

/** open → accepted → resolved or handed_off. */
export type EscalationStatus = "open" | "accepted" | "resolved" | "handed_off";
export const ESCALATION_STATUSES: readonly EscalationStatus[] = [
  "open",
  "accepted",
  "resolved",
  "handed_off",
];

/** How an accepted escalation ends. */
export type EscalationOutcome = "resolved" | "handed_off";
export const ESCALATION_OUTCOMES: readonly EscalationOutcome[] = [
  "resolved",
  "handed_off",
];

/** A crisis responder's duty state, separate from counsellors' shifts. */
export type DutyState = "on_duty" | "off_duty";
export const DUTY_STATES: readonly DutyState[] = [
  "on_duty",
  "off_duty",
];

/**
 * The counsellor's signed request, relayed to responders as it was made:
 * a responder's client checks `signature` against the counsellor's badge.
 */
export interface SignedEscalation {
  group_id: Bytes;
  severity: Severity;
  category: Category;
  /** Unix seconds when the counsellor made the request. */
  issued_at: number;
  /** Ed25519 over [`escalation_transcript`] by the counsellor's session key. */
  signature: Bytes;
}

/** An escalation as staff see it. No content, no visitor identifier. */
export interface EscalationEntry {
  escalation_id: number;
  status: EscalationStatus;
  request: SignedEscalation;
  /** The chat's language, so a responder who speaks it can take it. */
  language: string;
  /** Who asked, as attested by the server. */
  counsellor: StaffBadge;
  responder?: StaffBadge;
  /** Seconds since it was raised. */
  waited_secs: number;
  /** How many times responders were notified again for lack of an answer. */
  renotified?: number;
}

/** A circle as its moderators and members see it. */
export interface CircleInfo {
  circle_id: number;
  group_id: Bytes;
  name: string;
  language: string;
  topic: string;
  /** Moderators' clients add whoever asks to join, without a decision. */
  auto_approve: boolean;
  /** Whether the asking key moderates this circle. */
  moderator: boolean;
  /** Members now (leaves of the MLS group). */
  members: number;
  max_members: number;
}

/**
 * An invitation as its moderators see it. `code` is given only in the
 * answer that creates it: the server keeps its hash.
 */
export interface InvitationState {
  invitation_id: number;
  circle_id: number;
  code?: string;
  /** Unix seconds. */
  expires_at: number;
  max_uses: number;
  uses: number;
  revoked: boolean;
}

/** What an invitation's landing page shows before anyone joins. */
export interface InvitationPreview {
  circle_id: number;
  /**
   * The circle's MLS group: the page accepts a Welcome to this group
   * only, never one to any other group.
   */
  group_id: Bytes;
  name: string;
  language: string;
  topic: string;
  auto_approve: boolean;
}

/**
 * A member of a circle as its members see it: the name is the one she
 * asked to join under (a counsellor's: her staff display name), bound to
 * her key by the server, so nobody posts under another's name.
 */
export interface CircleMember {
  client_id: Bytes;
  display_name: string;
  moderator: boolean;
  /** A staff key (a counsellor running the circle). */
  staff?: boolean;
  /**
   * Muted by a moderator: her messages are refused. Told to moderators
   * only, so a moderator's console shows it again after a reload.
   */
  muted?: boolean;
}

/**
 * Someone asked to join with an invitation. `display_name` is what they
 * chose for this circle only; `key_package` is what a moderator's client
 * adds them with.
 */
export interface JoinRequest {
  request_id: number;
  circle_id: number;
  client_id: Bytes;
  display_name: string;
  key_package: Bytes;
  /** Unix seconds. */
  requested_at: number;
}

/** The operations of protocol version 1. */
export type Request =
  /**
   * Prove possession of an identity key by signing the connection's
   * challenge. Must be the first request on a connection.
   */
  | { op: "authenticate"; proof: AuthProof }
  /**
   * Upload key packages (TLS-serialized `MLSMessage`s of type key package).
   * Packages carrying the last-resort extension replace the stored
   * last-resort package. With `replace`, every package stored before is
   * withdrawn first (a client that lost its state cannot use them).
   */
  | { op: "publish_key_packages"; key_packages: Bytes[]; replace?: boolean }
  /** Take one key package of another client, to add it to a group. */
  | { op: "claim_key_package"; client_id: Bytes }
  /**
   * Start tracking a new group from its creator's GroupInfo and ratchet
   * tree. The creator must be its only member.
   */
  | { op: "create_group"; group_info: Bytes; ratchet_tree: Bytes }
  /**
   * A commit for the group's current epoch, with the Welcome for the
   * members it adds.
   */
  | { op: "send_commit"; commit: Bytes; welcome?: Bytes; group_info?: Bytes; ratchet_tree?: Bytes }
  /**
   * An MLS application message (PrivateMessage) for the group named in
   * its framing.
   */
  | { op: "send_message"; message: Bytes }
  /**
   * Push every envelope of my mailbox with a sequence number above
   * `after`, the backlog first, then new ones as they arrive.
   */
  | { op: "subscribe"; after: number }
  /** Read up to `limit` envelopes above `after` without subscribing. */
  | { op: "fetch_backlog"; after: number; limit: number }
  /**
   * I have processed every envelope up to and including `up_to`; delete
   * them from my mailbox.
   */
  | { op: "ack"; up_to: number }
  /** The groups I am a member of. */
  | { op: "list_groups" }
  /** Keep-alive; answered with `pong`. */
  | { op: "ping" }
  /**
   * Opening hours, languages, topics, crisis lines, the attestation key,
   * and a proof-of-work puzzle when intake is under pressure.
   */
  | { op: "intake_info" }
  /**
   * Ask for a chat. `key_packages` are one-time packages for it; the
   * counsellor who accepts gets one.
   */
  | { op: "request_chat"; language: string; topic: string; urgent?: boolean; key_packages: Bytes[]; pow?: PowSolution }
  /** Give up my ticket (and end its chat). */
  | { op: "cancel_ticket"; ticket_id: number }
  /**
   * Reclaim a ticket from any connection with its resume secret. New
   * `key_packages` replace the stored ones (a visitor who lost its state
   * is re-added to its chat with one of them).
   */
  | { op: "resume_ticket"; resume_secret: Bytes; key_packages?: Bytes[] }
  /**
   * Outside opening hours: claim one key package of each counsellor, to
   * seal a message to the team.
   */
  | { op: "team_key_packages" }
  /**
   * The group I created and sent my sealed message in is a message for
   * the team.
   */
  | { op: "leave_team_message"; group_id: Bytes; language: string }
  /**
   * Visitors: I am leaving now (`quick_exit`: the quick-exit button).
   * My counsellor is told; a waiting ticket is no longer offered.
   */
  | { op: "visitor_leaving"; quick_exit?: boolean }
  /**
   * Set my shift state. Clocking out with open chats needs `handover`,
   * which puts them back in the queue first in line.
   */
  | { op: "set_shift"; state: ShiftState; handover?: boolean }
  /** The waiting tickets I may take (no content). */
  | { op: "queue_view" }
  /** Take a ticket offered to me or picked from the queue view. */
  | { op: "accept_ticket"; ticket_id: number }
  /** Pass on an offer; it goes to the next counsellor. */
  | { op: "decline_offer"; ticket_id: number }
  /**
   * Tell the server which group is the chat of an accepted ticket. I must
   * have created it and be its only member.
   */
  | { op: "attach_chat"; ticket_id: number; group_id: Bytes }
  /**
   * Hand my chat to another counsellor (`to`: an account id), or to the
   * best available one.
   */
  | { op: "transfer_chat"; group_id: Bytes; to?: number }
  /**
   * End a chat; its envelopes are purged. `tag` is a closing topic from
   * the configured list, for the aggregate statistics.
   */
  | { op: "close_chat"; group_id: Bytes; tag: string }
  /** Block the visitor of a ticket for `duration_secs`. */
  | { op: "block_visitor"; ticket_id: number; duration_secs: number; reason: string }
  /** Supervisors: queue depth, longest wait, who is on shift and their load. */
  | { op: "board" }
  /** Sealed messages the team has not taken yet. */
  | { op: "team_messages" }
  /** I take this sealed message; it leaves the others' list. */
  | { op: "take_team_message"; group_id: Bytes }
  /**
   * Supervisors: move a stranded chat (see `board`) to colleague `to`,
   * or to myself without `to`. The visitor's client adds the new
   * counsellor, as on a transfer.
   */
  | { op: "rescue_chat"; group_id: Bytes; to?: number }
  /**
   * The chat's counsellor (or a supervisor) asks for a crisis
   * responder. Signed by the session key, and sent outside the MLS
   * group, so it works whatever state the group is in.
   */
  | { op: "escalate"; escalation: SignedEscalation }
  /** Crisis responders: go on or off duty. */
  | { op: "set_duty"; state: DutyState }
  /** Crisis responders and supervisors: escalations not yet final. */
  | { op: "escalation_queue" }
  /** An on-duty crisis responder takes an open escalation. */
  | { op: "accept_escalation"; escalation_id: number }
  /**
   * End an accepted escalation: `resolved` (responder, counsellor or a
   * supervisor) or `handed_off` (the counsellor leaves the chat to the
   * responder).
   */
  | { op: "resolve_escalation"; escalation_id: number; outcome: EscalationOutcome }
  /**
   * Visitors: "I'm in danger now". Answers with the emergency numbers at
   * once; with my ticket, raises it to urgent, or alerts my counsellor.
   */
  | { op: "sos"; ticket_id?: number }
  /**
   * Visitors, after a chat a counsellor closed or a ticket she cancelled
   * herself: the one anonymous feedback question. Counted per day, once
   * per ticket.
   */
  | { op: "chat_feedback"; answer: FeedbackAnswer }
  /**
   * Counsellors and supervisors: make the group I created, and am the
   * only member of, a circle that I moderate.
   */
  | { op: "create_circle"; group_id: Bytes; name: string; language: string; topic: string; auto_approve?: boolean }
  /** The circles I moderate or am a member of. */
  | { op: "list_circles" }
  /** Moderators: a new invitation code. */
  | { op: "create_invitation"; circle_id: number; expires_in_secs: number; max_uses: number }
  /** Moderators: the circle's invitations (without their codes). */
  | { op: "list_invitations"; circle_id: number }
  /** Moderators: the code stops working at once. */
  | { op: "revoke_invitation"; circle_id: number; invitation_id: number }
  /** Anyone: what an invitation is for, before joining. */
  | { op: "preview_invitation"; code: string }
  /**
   * Ask to join with an invitation, under a display name for this circle
   * only. A moderator's client adds me with `key_package`.
   */
  | { op: "join_circle"; code: string; display_name: string; key_package: Bytes }
  /** Moderators: the requests waiting for a decision. */
  | { op: "join_requests"; circle_id: number }
  /** Members: who is in the circle, under which name. */
  | { op: "circle_roster"; circle_id: number }
  /** Moderators: turn a request down. Approving is committing the add. */
  | { op: "decline_join"; circle_id: number; request_id: number }
  /** Moderators: refuse (or allow again) a member's messages. */
  | { op: "set_muted"; circle_id: number; client_id: Bytes; muted: boolean }
  /** Moderators: make a member a moderator, or not. */
  | { op: "set_moderator"; circle_id: number; client_id: Bytes; moderator: boolean }
  /**
   * Members: leave. Nothing more is delivered to me; a moderator's
   * client removes my leaf.
   */
  | { op: "leave_circle"; circle_id: number }
  /** Moderators: end the circle; its envelopes are purged. */
  | { op: "close_circle"; circle_id: number };

export type Operation = Request["op"];

/** Every `op` of `Request`, in the order of the Rust enum. */
export const OPERATIONS: readonly Operation[] = [
  "authenticate",
  "publish_key_packages",
  "claim_key_package",
  "create_group",
  "send_commit",
  "send_message",
  "subscribe",
  "fetch_backlog",
  "ack",
  "list_groups",
  "ping",
  "intake_info",
  "request_chat",
  "cancel_ticket",
  "resume_ticket",
  "team_key_packages",
  "leave_team_message",
  "visitor_leaving",
  "set_shift",
  "queue_view",
  "accept_ticket",
  "decline_offer",
  "attach_chat",
  "transfer_chat",
  "close_chat",
  "block_visitor",
  "board",
  "team_messages",
  "take_team_message",
  "rescue_chat",
  "escalate",
  "set_duty",
  "escalation_queue",
  "accept_escalation",
  "resolve_escalation",
  "sos",
  "chat_feedback",
  "create_circle",
  "list_circles",
  "create_invitation",
  "list_invitations",
  "revoke_invitation",
  "preview_invitation",
  "join_circle",
  "join_requests",
  "circle_roster",
  "decline_join",
  "set_muted",
  "set_moderator",
  "leave_circle",
  "close_circle",
];

/**
 * A request from a client. `id` is chosen by the client and echoed in the
 * response or error that answers it.
 */
export interface ClientFrame {
  v: number;
  id: number;
  req: Request;
}

export type EnvelopeKind = "commit" | "application" | "welcome";
export const ENVELOPE_KINDS: readonly EnvelopeKind[] = [
  "commit",
  "application",
  "welcome",
];

/** One entry of a client's mailbox. */
export interface Envelope {
  /** Position in the recipient's mailbox: 1, 2, 3, … without gaps. */
  seq: number;
  group_id: Bytes;
  kind: EnvelopeKind;
  /**
   * For commits and application messages, the epoch they were sent in;
   * for a Welcome, the epoch it joins.
   */
  epoch: number;
  /** The TLS-serialized MLSMessage, exactly as the sender sent it. */
  message: Bytes;
  /** With a Welcome: the group's ratchet tree after the commit. */
  ratchet_tree?: Bytes;
  /** When the server accepted it, in whole seconds since the Unix epoch. */
  received_at: number;
}

/** What the server says about a group I am in. */
export interface GroupSummary {
  group_id: Bytes;
  epoch: number;
  members: number;
}

/** Successful results, tagged by `kind`. */
export type Response =
  | {
      kind: "authenticated";
      /** My identity as the server knows it (my public key). */
      client_id: Bytes;
      /** The highest sequence number ever assigned in my mailbox. */
      mailbox_head: number;
      one_time_key_packages: number;
      last_resort_key_package: boolean;
      /** For a staff session: who I am and the badge visitors will see. */
      staff?: StaffSelf;
    }
  | { kind: "key_packages_published"; one_time: number; last_resort: boolean }
  | { kind: "key_package"; key_package: Bytes; last_resort: boolean }
  | { kind: "group_created"; group_id: Bytes; epoch: number }
  /** The commit won its epoch and is durable; merge it now. */
  | { kind: "commit_accepted"; group_id: Bytes; epoch: number }
  /** The message is durable and queued for every other member. */
  | { kind: "message_accepted"; group_id: Bytes; epoch: number }
  | { kind: "subscribed"; head: number }
  | { kind: "backlog"; envelopes: Envelope[]; more: boolean }
  | { kind: "acked"; up_to: number }
  | { kind: "groups"; groups: GroupSummary[] }
  | { kind: "pong" }
  | {
      kind: "intake_info";
      open: boolean;
      languages: string[];
      topics: string[];
      closing_tags: string[];
      time_zone: string;
      opening_hours: OpeningWindow[];
      help: Help;
      /** Verifies staff badges. */
      attestation_key: Bytes;
      pow?: PowChallenge;
    }
  | { kind: "ticket"; ticket: TicketState }
  | { kind: "ticket_cancelled"; ticket_id: number }
  | { kind: "team_key_packages"; key_packages: Bytes[] }
  | {
      kind: "team_message_left";
      group_id: Bytes;
      /**
       * How many current staff keys the message was sealed to. 0: nobody
       * on the team can read it; the client says so and shows the
       * crisis lines.
       */
      delivered_to: number;
    }
  | { kind: "leaving_noted" }
  | {
      kind: "shift";
      state: ShiftState;
      active_chats: number;
      /** Chats put back in the queue by this request. */
      handed_over?: number;
    }
  | { kind: "queue"; tickets: QueueEntry[] }
  /**
   * The ticket is mine: create the chat group, add the visitor with
   * `key_package`, then `attach_chat`. For a hand-over (`group_id` set)
   * the visitor's client adds me instead.
   */
  | { kind: "ticket_accepted"; ticket: QueueEntry; key_package?: Bytes; group_id?: Bytes }
  | { kind: "offer_declined"; ticket_id: number }
  | { kind: "chat_attached"; ticket_id: number; group_id: Bytes }
  /**
   * The chat is the new counsellor's; the visitor's client adds them.
   * `note_key_package` lets me seal a hand-over note to them in a
   * separate two-member group.
   */
  | { kind: "transferred"; group_id: Bytes; to: StaffBadge; note_key_package: Bytes }
  | { kind: "chat_closed"; group_id: Bytes }
  | { kind: "blocked"; ticket_id: number; until: number }
  | {
      kind: "board";
      queue_depth: number;
      longest_wait_secs: number;
      staff: BoardRow[];
      /**
       * Chats whose counsellor is offline, or clocked out with them
       * still open (`rescue_chat`).
       */
      stranded?: StrandedChat[];
      open_escalations: number;
    }
  | { kind: "team_messages"; messages: TeamMessage[] }
  | { kind: "team_message_taken"; group_id: Bytes }
  /** The chat is `to`'s now; the visitor's client adds them. */
  | { kind: "chat_rescued"; group_id: Bytes; to: StaffBadge }
  | { kind: "escalated"; escalation: EscalationEntry }
  | {
      kind: "duty";
      state: DutyState;
      /** Escalations waiting for a responder now. */
      open_escalations: number;
    }
  | { kind: "escalations"; escalations: EscalationEntry[] }
  /** I have it: the counsellor's client adds me to the chat. */
  | { kind: "escalation_accepted"; escalation: EscalationEntry }
  | { kind: "escalation_resolved"; escalation: EscalationEntry }
  /** The emergency numbers, and my ticket as it now stands. */
  | { kind: "sos_raised"; help: Help; ticket?: TicketState }
  | { kind: "feedback_recorded" }
  | { kind: "circle"; circle: CircleInfo }
  | { kind: "circles"; circles: CircleInfo[] }
  | { kind: "invitation"; invitation: InvitationState }
  | { kind: "invitations"; invitations: InvitationState[] }
  | { kind: "invitation_revoked"; invitation_id: number }
  | { kind: "invitation_preview"; preview: InvitationPreview }
  /** Waiting for a moderator's client to add me. */
  | { kind: "join_requested"; circle_id: number; request_id: number }
  | { kind: "join_requests"; requests: JoinRequest[] }
  | { kind: "circle_roster"; circle_id: number; members: CircleMember[] }
  | { kind: "join_declined"; request_id: number }
  | { kind: "member_muted"; circle_id: number; client_id: Bytes; muted: boolean }
  | { kind: "moderator_set"; circle_id: number; client_id: Bytes; moderator: boolean }
  | { kind: "circle_left"; circle_id: number }
  | { kind: "circle_closed"; circle_id: number };

export type ResponseKind = Response["kind"];

/**
 * Error codes carried by `error` frames. The list is closed for protocol
 * version 1; PROTOCOL.md explains each and what the client should do.
 */
export type ErrorCode = "malformed_frame" | "unsupported_version" | "frame_too_large" | "unknown_operation" | "not_authenticated" | "already_authenticated" | "authentication_failed" | "invalid_mls_message" | "invalid_key_package" | "invalid_commit" | "invalid_welcome" | "invalid_group_info" | "stale_epoch" | "not_a_member" | "unknown_group" | "group_exists" | "no_key_package" | "limit_exceeded" | "envelope_too_large" | "unknown_envelope" | "unsupported" | "shutting_down" | "internal" | "forbidden" | "rate_limited" | "busy" | "pow_required" | "intake_closed" | "blocked" | "unknown_ticket" | "invalid_state" | "handover_required" | "no_counsellor_available" | "invalid_request" | "unknown_escalation" | "invalid_signature" | "unknown_circle" | "unknown_invitation" | "invitation_expired" | "invitation_used_up" | "invitation_revoked" | "muted" | "quota_exceeded" | "storage_full";
export const ERROR_CODES: readonly ErrorCode[] = [
  "malformed_frame",
  "unsupported_version",
  "frame_too_large",
  "unknown_operation",
  "not_authenticated",
  "already_authenticated",
  "authentication_failed",
  "invalid_mls_message",
  "invalid_key_package",
  "invalid_commit",
  "invalid_welcome",
  "invalid_group_info",
  "stale_epoch",
  "not_a_member",
  "unknown_group",
  "group_exists",
  "no_key_package",
  "limit_exceeded",
  "envelope_too_large",
  "unknown_envelope",
  "unsupported",
  "shutting_down",
  "internal",
  "forbidden",
  "rate_limited",
  "busy",
  "pow_required",
  "intake_closed",
  "blocked",
  "unknown_ticket",
  "invalid_state",
  "handover_required",
  "no_counsellor_available",
  "invalid_request",
  "unknown_escalation",
  "invalid_signature",
  "unknown_circle",
  "unknown_invitation",
  "invitation_expired",
  "invitation_used_up",
  "invitation_revoked",
  "muted",
  "quota_exceeded",
  "storage_full",
];

export type ServerMessage =
  /** Sent once, right after the WebSocket opens. */
  | { type: "challenge"; nonce: Bytes; versions: number[] }
  /** The successful answer to request `id`. */
  | { type: "response"; id: number; result: Response }
  /**
   * The failed answer to request `id`, or (without `id`) to a frame whose
   * id could not be read.
   */
  | {
      type: "error";
      id?: number;
      code: ErrorCode;
      message: string;
      /** With `stale_epoch`: the group's current epoch. */
      current_epoch?: number;
      /** With `rate_limited`, `busy`: when to try again. */
      retry_after_secs?: number;
      /** With `pow_required`: the puzzle to solve. */
      pow?: PowChallenge;
      /** With every refusal of a visitor: where else to turn. */
      help?: Help;
    }
  /** A pushed envelope from my mailbox (after `subscribe`). */
  | { type: "envelope"; envelope: Envelope }
  /** My key-package stock changed because someone claimed one. */
  | { type: "key_package_count"; one_time: number; last_resort: boolean }
  /** Visitors: my ticket's position, estimate or status changed. */
  | { type: "ticket_update"; ticket: TicketState }
  /** Staff: a ticket is offered to me until `expires_in_secs` pass. */
  | { type: "offer"; ticket: QueueEntry; expires_in_secs: number }
  /** Staff: an offer to me ended (expired, taken, or cancelled). */
  | { type: "offer_withdrawn"; ticket_id: number }
  /** Staff on shift: the queue changed. */
  | { type: "queue_changed"; depth: number; longest_wait_secs: number }
  /**
   * Staff: a chat is now mine (transfer or hand-over). Once I have joined
   * by its Welcome, I remove `remove_previous` from the group.
   */
  | { type: "chat_assigned"; group_id: Bytes; ticket: QueueEntry; from?: StaffBadge; remove_previous?: Bytes }
  /**
   * Staff: my visitor came back without its MLS state; remove its old
   * leaf and add it again with this key package.
   */
  | { type: "readd_visitor"; group_id: Bytes; old_client: Bytes; key_package: Bytes }
  /** Staff: my chat's visitor connected, dropped, left or quick-exited. */
  | { type: "visitor_presence"; ticket_id: number; group_id: Bytes; presence: VisitorPresence }
  /** Staff: one of my chats ended (the visitor cancelled or left). */
  | { type: "chat_ended"; group_id: Bytes; ticket_id: number }
  /**
   * Members of a group: these leaves are keys of a staff account that
   * was disabled, had its sessions revoked or its password reset. The
   * server no longer delivers to them or accepts anything from them;
   * remove them. Any member may, with a commit that removes only them.
   */
  | { type: "remove_revoked_members"; group_id: Bytes; clients: Bytes[] }
  /**
   * A visitor: her counsellor lost her state and came back with a new
   * key. Check the badge (valid, same name and role as the old leaf's),
   * then commit add(`key_package`) + remove(`old_client`) in one commit.
   */
  | { type: "counsellor_reconnected"; group_id: Bytes; old_client: Bytes; key_package: Bytes; badge: StaffBadge }
  /** Staff on shift: sealed messages waiting for the team. */
  | { type: "team_messages_waiting"; messages: TeamMessage[] }
  /**
   * On-duty crisis responders: an escalation waits for someone to
   * accept it (again, with `renotified` > 0, when nobody did in time).
   */
  | { type: "escalation_raised"; escalation: EscalationEntry }
  /** The escalation's counsellor and responders: its state changed. */
  | { type: "escalation_changed"; escalation: EscalationEntry }
  /**
   * The escalating counsellor: add this responder to the chat, after
   * checking the badge; `key_package` is theirs.
   */
  | { type: "add_responder"; escalation_id: number; group_id: Bytes; responder: StaffBadge; key_package: Bytes }
  /**
   * The counsellor and the visitor of an escalated chat: nobody accepted
   * in time; these numbers are the fallback.
   */
  | { type: "escalation_fallback"; group_id: Bytes; help: Help }
  /** A chat's counsellor: the visitor pressed "I'm in danger now". */
  | { type: "sos_alert"; group_id: Bytes; ticket_id: number }
  /**
   * A circle's moderators: someone asked to join. Approving is
   * committing the add with `key_package` (clients of an auto-approve
   * circle do so at once).
   */
  | { type: "circle_join_request"; request: JoinRequest }
  /** A circle's moderators: a member left; remove their leaf. */
  | { type: "circle_member_left"; circle_id: number; client_id: Bytes }
  /** A circle's members: a moderator closed it. */
  | { type: "circle_ended"; circle_id: number; group_id: Bytes };

export type ServerMessageType = ServerMessage["type"];

/** A frame from the server. */
export interface ServerFrame {
  v: number;
  msg: ServerMessage;
}
