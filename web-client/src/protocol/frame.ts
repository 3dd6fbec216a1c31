// Frame types of protocol version 1, mirroring protocol/src/frame.rs.
//
// Field and variant names are the wire names, so a decoded frame is exactly
// the MessagePack map it came from (the shared vectors compare them that
// way). Byte strings are Uint8Array. Integers are numbers: the protocol keeps
// them below 2^53.

import type { CircleInfo, CircleMember, InvitationPreview, InvitationState, JoinRequest } from "./circle";
import type { ErrorCode } from "./error";
import type { DutyState, EscalationEntry, EscalationOutcome, SignedEscalation } from "./escalation";
import type {
  BoardRow,
  FeedbackAnswer,
  Help,
  OpeningWindow,
  PowChallenge,
  PowSolution,
  QueueEntry,
  ShiftState,
  StaffBadge,
  StaffRole,
  StrandedChat,
  TeamMessage,
  TicketState,
  VisitorPresence,
} from "./intake";

export type Bytes = Uint8Array;

/** The protocol version this client speaks, carried in every frame as `v`. */
export const PROTOCOL_VERSION = 1;

/** The WebSocket path of protocol version 1. */
export const WEBSOCKET_PATH = "/v1/ws";

/** A request. `id` is chosen by the client and echoed in its answer. */
export interface ClientFrame {
  v: number;
  id: number;
  req: Request;
}

/** The operations of protocol version 1. */
export type Request =
  /** Prove possession of the identity key; must be the first request. */
  | { op: "authenticate"; proof: AuthProof }
  /**
   * Upload key packages (MLSMessage(KeyPackage)). With `replace`, every
   * package stored before is withdrawn first. Absent means false.
   */
  | { op: "publish_key_packages"; key_packages: Bytes[]; replace?: boolean }
  /** Take one key package of another client, to add it to a group. */
  | { op: "claim_key_package"; client_id: Bytes }
  /** Start tracking a new group from its creator's GroupInfo and tree. */
  | { op: "create_group"; group_info: Bytes; ratchet_tree: Bytes }
  /** A commit for the current epoch, with the Welcome for added members. */
  | { op: "send_commit"; commit: Bytes; welcome?: Bytes; group_info?: Bytes; ratchet_tree?: Bytes }
  /** An MLS application message (PrivateMessage). */
  | { op: "send_message"; message: Bytes }
  /** Push every envelope above `after`: the backlog, then new ones. */
  | { op: "subscribe"; after: number }
  /** Read up to `limit` envelopes above `after` without subscribing. */
  | { op: "fetch_backlog"; after: number; limit: number }
  /** Everything up to and including `up_to` is processed; delete it. */
  | { op: "ack"; up_to: number }
  /** The groups I am a member of. */
  | { op: "list_groups" }
  /** Keep-alive; answered with `pong`. */
  | { op: "ping" }
  // --- Visitors: the intake queue ---
  /** Opening hours, languages, topics, crisis lines, the attestation key, maybe a puzzle. */
  | { op: "intake_info" }
  /** Ask for a chat, with one-time key packages for it. `urgent` absent means false. */
  | { op: "request_chat"; language: string; topic: string; urgent?: boolean; key_packages: Bytes[]; pow?: PowSolution }
  /** Give up my ticket (and end its chat). */
  | { op: "cancel_ticket"; ticket_id: number }
  /** Reclaim a ticket with its resume secret; new key packages replace the stored ones. */
  | { op: "resume_ticket"; resume_secret: Bytes; key_packages?: Bytes[] }
  /** Outside opening hours: one key package of each counsellor, to seal a message to the team. */
  | { op: "team_key_packages" }
  /** The group I sent my sealed message in is a message for the team. */
  | { op: "leave_team_message"; group_id: Bytes; language: string }
  /** I am leaving now (`quick_exit`: the quick-exit button); my counsellor is told. */
  | { op: "visitor_leaving"; quick_exit?: boolean }
  // --- Staff ---
  /** Set my shift state; clocking out with open chats needs `handover`. */
  | { op: "set_shift"; state: ShiftState; handover?: boolean }
  /** The waiting tickets I may take (no content). */
  | { op: "queue_view" }
  /** Take a ticket offered to me or picked from the queue. */
  | { op: "accept_ticket"; ticket_id: number }
  /** Pass on an offer. */
  | { op: "decline_offer"; ticket_id: number }
  /** The group I created (and am alone in) is the chat of this accepted ticket. */
  | { op: "attach_chat"; ticket_id: number; group_id: Bytes }
  /** Hand my chat to a colleague (`to`: account id) or the best available one. */
  | { op: "transfer_chat"; group_id: Bytes; to?: number }
  /** End a chat (its envelopes are purged), with a closing tag. */
  | { op: "close_chat"; group_id: Bytes; tag: string }
  /** Block the visitor of a ticket for a while. */
  | { op: "block_visitor"; ticket_id: number; duration_secs: number; reason: string }
  /** Supervisors: queue depth, longest wait, staff and their load. */
  | { op: "board" }
  /** Sealed team messages not taken yet. */
  | { op: "team_messages" }
  /** I take this sealed message. */
  | { op: "take_team_message"; group_id: Bytes }
  /** Supervisors: move a stranded chat to colleague `to`, or to me. */
  | { op: "rescue_chat"; group_id: Bytes; to?: number }
  /** The chat's counsellor (or a supervisor) asks for a crisis responder; signed, outside MLS. */
  | { op: "escalate"; escalation: SignedEscalation }
  /** Crisis responders: go on or off duty. */
  | { op: "set_duty"; state: DutyState }
  /** Responders and supervisors: escalations not yet final. */
  | { op: "escalation_queue" }
  /** An on-duty crisis responder takes an open escalation. */
  | { op: "accept_escalation"; escalation_id: number }
  /** End an escalation: resolved, or handed off to the responder. */
  | { op: "resolve_escalation"; escalation_id: number; outcome: EscalationOutcome }
  /** Visitors: "I'm in danger now" (with my ticket, if I have one). */
  | { op: "sos"; ticket_id?: number }
  /** Visitors, after a closed chat: the one anonymous feedback question (once). */
  | { op: "chat_feedback"; answer: FeedbackAnswer }
  /** Counsellors and supervisors: make my new group (I am its only member) a circle I moderate. */
  | { op: "create_circle"; group_id: Bytes; name: string; language: string; topic: string; auto_approve?: boolean }
  /** The circles I moderate or am a member of. */
  | { op: "list_circles" }
  /** Moderators: a new invitation code. */
  | { op: "create_invitation"; circle_id: number; expires_in_secs: number; max_uses: number }
  /** Moderators: the circle's invitations (without codes). */
  | { op: "list_invitations"; circle_id: number }
  /** Moderators: the code stops working at once. */
  | { op: "revoke_invitation"; circle_id: number; invitation_id: number }
  /** Anyone: what an invitation is for, before joining. */
  | { op: "preview_invitation"; code: string }
  /** Ask to join under a display name for this circle only, with a fresh key package. */
  | { op: "join_circle"; code: string; display_name: string; key_package: Bytes }
  /** Moderators: requests waiting for a decision. */
  | { op: "join_requests"; circle_id: number }
  /** Members: who is in the circle, under the name bound to each key. */
  | { op: "circle_roster"; circle_id: number }
  /** Moderators: turn a request down (approving is committing the add). */
  | { op: "decline_join"; circle_id: number; request_id: number }
  /** Moderators: refuse (or allow again) a member's messages. */
  | { op: "set_muted"; circle_id: number; client_id: Bytes; muted: boolean }
  /** Moderators: make a member a moderator, or not. */
  | { op: "set_moderator"; circle_id: number; client_id: Bytes; moderator: boolean }
  /** Members: leave; delivery to me stops at once. */
  | { op: "leave_circle"; circle_id: number }
  /** Moderators: end the circle; its envelopes are purged. */
  | { op: "close_circle"; circle_id: number };

export type Operation = Request["op"];

/** Every operation name of version 1, in the order of frame.rs. */
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
 * How a client proves who it is: an anonymous key alone, or a staff session
 * token (from the HTTPS login) plus the key it binds for this session. In
 * both, `signature` signs `auth.authTranscript(nonce, public_key)`.
 */
export type AuthProof =
  | { method: "ed25519_challenge"; public_key: Bytes; signature: Bytes }
  | { method: "staff_session"; token: string; public_key: Bytes; signature: Bytes };

/** A frame from the server. */
export interface ServerFrame {
  v: number;
  msg: ServerMessage;
}

export type ServerMessage =
  /** Sent once, right after the WebSocket opens. */
  | { type: "challenge"; nonce: Bytes; versions: number[] }
  /** The successful answer to request `id`. */
  | { type: "response"; id: number; result: Response }
  /**
   * The failed answer to request `id`, or (without `id`) to a frame whose id
   * could not be read. `current_epoch` comes with `stale_epoch`.
   */
  | {
      type: "error";
      id?: number;
      code: ErrorCode;
      message: string;
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
  /** Visitors: my ticket's position, estimate or status changed (the whole state). */
  | { type: "ticket_update"; ticket: TicketState }
  /** Staff: a ticket is offered to me for `expires_in_secs`. */
  | { type: "offer"; ticket: QueueEntry; expires_in_secs: number }
  /** Staff: an offer to me ended. */
  | { type: "offer_withdrawn"; ticket_id: number }
  /** Staff on shift: the queue changed. */
  | { type: "queue_changed"; depth: number; longest_wait_secs: number }
  /** Staff: a chat is now mine; once joined, I remove `remove_previous`. */
  | { type: "chat_assigned"; group_id: Bytes; ticket: QueueEntry; from?: StaffBadge; remove_previous?: Bytes }
  /** Staff: my visitor lost its MLS state: remove `old_client`, add it again with `key_package`. */
  | { type: "readd_visitor"; group_id: Bytes; old_client: Bytes; key_package: Bytes }
  /** Staff: one of my chats ended. */
  | { type: "chat_ended"; group_id: Bytes; ticket_id: number }
  /** Members: these leaves are keys of a staff account that was disabled or reset: remove them. */
  | { type: "remove_revoked_members"; group_id: Bytes; clients: Bytes[] }
  /** A visitor: her counsellor came back with a new key; check the badge, then add it and remove `old_client` in one commit. */
  | { type: "counsellor_reconnected"; group_id: Bytes; old_client: Bytes; key_package: Bytes; badge: StaffBadge }
  /** Staff: my chat's visitor connected, dropped, left or quick-exited. */
  | { type: "visitor_presence"; ticket_id: number; group_id: Bytes; presence: VisitorPresence }
  /** Staff on shift: sealed messages waiting for the team. */
  | { type: "team_messages_waiting"; messages: TeamMessage[] }
  /** On-duty responders: an escalation waits (again, when `renotified`). */
  | { type: "escalation_raised"; escalation: EscalationEntry }
  /** The counsellor and responders: an escalation changed. */
  | { type: "escalation_changed"; escalation: EscalationEntry }
  /** The escalating counsellor: add this responder, after checking the badge. */
  | { type: "add_responder"; escalation_id: number; group_id: Bytes; responder: StaffBadge; key_package: Bytes }
  /** Counsellor and visitor: nobody accepted in time; these are the numbers. */
  | { type: "escalation_fallback"; group_id: Bytes; help: Help }
  /** A chat's counsellor: the visitor pressed SOS. */
  | { type: "sos_alert"; group_id: Bytes; ticket_id: number }
  /** A circle's moderators: someone asked to join. */
  | { type: "circle_join_request"; request: JoinRequest }
  /** A circle's moderators: a member left; remove their leaf. */
  | { type: "circle_member_left"; circle_id: number; client_id: Bytes }
  /** A circle's members: a moderator closed it. */
  | { type: "circle_ended"; circle_id: number; group_id: Bytes };

export type ServerMessageType = ServerMessage["type"];

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
  /** The commit won its epoch and is durable: merge it now. */
  | { kind: "commit_accepted"; group_id: Bytes; epoch: number }
  /** The message is durable and queued for every member. */
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
  /** `delivered_to`: current staff keys it was sealed to; 0 means nobody can read it. */
  | { kind: "team_message_left"; group_id: Bytes; delivered_to: number }
  | { kind: "leaving_noted" }
  /** `handed_over`: chats put back in the queue by this request (absent means 0). */
  | { kind: "shift"; state: ShiftState; active_chats: number; handed_over?: number }
  | { kind: "queue"; tickets: QueueEntry[] }
  /** Create the chat, add the visitor with `key_package`, attach it; for a hand-over `group_id` is set instead. */
  | { kind: "ticket_accepted"; ticket: QueueEntry; key_package?: Bytes; group_id?: Bytes }
  | { kind: "offer_declined"; ticket_id: number }
  | { kind: "chat_attached"; ticket_id: number; group_id: Bytes }
  | { kind: "transferred"; group_id: Bytes; to: StaffBadge; note_key_package: Bytes }
  | { kind: "chat_closed"; group_id: Bytes }
  | { kind: "blocked"; ticket_id: number; until: number }
  | {
      kind: "board";
      queue_depth: number;
      longest_wait_secs: number;
      staff: BoardRow[];
      /** Absent: none. */
      stranded?: StrandedChat[];
      open_escalations: number;
    }
  | { kind: "team_messages"; messages: TeamMessage[] }
  | { kind: "team_message_taken"; group_id: Bytes }
  | { kind: "chat_rescued"; group_id: Bytes; to: StaffBadge }
  | { kind: "escalated"; escalation: EscalationEntry }
  | { kind: "duty"; state: DutyState; open_escalations: number }
  | { kind: "escalations"; escalations: EscalationEntry[] }
  | { kind: "escalation_accepted"; escalation: EscalationEntry }
  | { kind: "escalation_resolved"; escalation: EscalationEntry }
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

/** A staff session's own view of itself. */
export interface StaffSelf {
  account_id: number;
  role: StaffRole;
  display_name: string;
  languages: string[];
  max_chats: number;
  badge: StaffBadge;
}

export type ResponseKind = Response["kind"];

/** What the server says about a group I am in. */
export interface GroupSummary {
  group_id: Bytes;
  epoch: number;
  members: number;
}

export type EnvelopeKind = "commit" | "application" | "welcome";

/** One entry of my mailbox. */
export interface Envelope {
  /** Position in my mailbox: 1, 2, 3, … without gaps. */
  seq: number;
  group_id: Bytes;
  kind: EnvelopeKind;
  /** For commits and application messages the epoch they were sent in; for a Welcome the epoch it joins. */
  epoch: number;
  /** The TLS-serialized MLSMessage, exactly as its sender sent it. */
  message: Bytes;
  /** With a Welcome: the group's ratchet tree after the commit. */
  ratchet_tree?: Bytes;
  /** When the server accepted it, in whole seconds since the Unix epoch. */
  received_at: number;
}
