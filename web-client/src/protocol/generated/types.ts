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

export type StaffRole = "counsellor" | "supervisor" | "crisis_responder" | "admin";
export const STAFF_ROLES: readonly StaffRole[] = [
  "counsellor",
  "supervisor",
  "crisis_responder",
  "admin",
];

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

export type VisitorPresence = "here" | "reconnecting" | "left" | "quick_exit";
export const VISITOR_PRESENCES: readonly VisitorPresence[] = [
  "here",
  "reconnecting",
  "left",
  "quick_exit",
];

export type FeedbackAnswer = "helped" | "somewhat" | "not_helped";
export const FEEDBACK_ANSWERS: readonly FeedbackAnswer[] = [
  "helped",
  "somewhat",
  "not_helped",
];

export type AuthProof =
  | { method: "ed25519_challenge"; public_key: Bytes; signature: Bytes }
  | { method: "staff_session"; token: string; public_key: Bytes; signature: Bytes };

export interface PowChallenge {
  challenge: Bytes;
  difficulty_bits: number;
}

export interface PowSolution {
  challenge: Bytes;
  nonce: Bytes;
}

export interface CrisisLine {
  name: string;
  number: string;
  hours: string;
}

export interface Help {
  crisis_lines: CrisisLine[];
  next_open_at?: number;
}

export interface OpeningWindow {
  weekday: number;
  opens: number;
  closes: number;
}

export interface StaffBadge {
  display_name: string;
  role: StaffRole;
  signature_key: Bytes;
  expires_at: number;
  attestation: Bytes;
  account_tag?: Bytes;
}

export interface CounsellorToAdd {
  badge: StaffBadge;
  key_package: Bytes;
}

export type TicketStatus =
  | { state: "waiting"; position: number; estimated_wait_secs: number }
  | { state: "in_chat"; group_id: Bytes; counsellor: StaffBadge; transferred?: boolean; add_counsellor?: CounsellorToAdd; responders?: StaffBadge[]; rescued?: boolean }
  | { state: "closed"; reason: ClosedReason };

export interface TicketState {
  ticket_id: number;
  status: TicketStatus;
  resume_secret?: Bytes;
  resume_grace_secs: number;
}

export interface QueueEntry {
  ticket_id: number;
  language: string;
  topic: string;
  urgent: boolean;
  waited_secs: number;
  offered: boolean;
  handover?: boolean;
}

export interface BoardRow {
  account_id: number;
  display_name: string;
  role: StaffRole;
  shift: ShiftState;
  connected: boolean;
  active_chats: number;
  max_chats: number;
}

export interface StrandedChat {
  ticket_id: number;
  group_id: Bytes;
  language: string;
  counsellor: string;
  counsellor_account: number;
  reason: StrandedReason;
}

export interface TeamMessage {
  group_id: Bytes;
  language: string;
  left_at: number;
}

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

export type EscalationStatus = "open" | "accepted" | "resolved" | "handed_off";
export const ESCALATION_STATUSES: readonly EscalationStatus[] = [
  "open",
  "accepted",
  "resolved",
  "handed_off",
];

export type EscalationOutcome = "resolved" | "handed_off";
export const ESCALATION_OUTCOMES: readonly EscalationOutcome[] = [
  "resolved",
  "handed_off",
];

export type DutyState = "on_duty" | "off_duty";
export const DUTY_STATES: readonly DutyState[] = [
  "on_duty",
  "off_duty",
];

export interface SignedEscalation {
  group_id: Bytes;
  severity: Severity;
  category: Category;
  issued_at: number;
  signature: Bytes;
}

export interface EscalationEntry {
  escalation_id: number;
  status: EscalationStatus;
  request: SignedEscalation;
  language: string;
  counsellor: StaffBadge;
  responder?: StaffBadge;
  waited_secs: number;
  renotified?: number;
}

export interface CircleInfo {
  circle_id: number;
  group_id: Bytes;
  name: string;
  language: string;
  topic: string;
  auto_approve: boolean;
  moderator: boolean;
  members: number;
  max_members: number;
}

export interface InvitationState {
  invitation_id: number;
  circle_id: number;
  code?: string;
  expires_at: number;
  max_uses: number;
  uses: number;
  revoked: boolean;
}

export interface InvitationPreview {
  circle_id: number;
  group_id: Bytes;
  name: string;
  language: string;
  topic: string;
  auto_approve: boolean;
}

export interface CircleMember {
  client_id: Bytes;
  display_name: string;
  moderator: boolean;
  staff?: boolean;
  muted?: boolean;
}

export interface JoinRequest {
  request_id: number;
  circle_id: number;
  client_id: Bytes;
  display_name: string;
  key_package: Bytes;
  requested_at: number;
}

export type Request =
  | { op: "authenticate"; proof: AuthProof }
  | { op: "publish_key_packages"; key_packages: Bytes[]; replace?: boolean }
  | { op: "claim_key_package"; client_id: Bytes }
  | { op: "create_group"; group_info: Bytes; ratchet_tree: Bytes }
  | { op: "send_commit"; commit: Bytes; welcome?: Bytes; group_info?: Bytes; ratchet_tree?: Bytes }
  | { op: "send_message"; message: Bytes }
  | { op: "subscribe"; after: number }
  | { op: "fetch_backlog"; after: number; limit: number }
  | { op: "ack"; up_to: number }
  | { op: "list_groups" }
  | { op: "ping" }
  | { op: "intake_info" }
  | { op: "request_chat"; language: string; topic: string; urgent?: boolean; key_packages: Bytes[]; pow?: PowSolution }
  | { op: "cancel_ticket"; ticket_id: number }
  | { op: "resume_ticket"; resume_secret: Bytes; key_packages?: Bytes[] }
  | { op: "team_key_packages" }
  | { op: "leave_team_message"; group_id: Bytes; language: string }
  | { op: "visitor_leaving"; quick_exit?: boolean }
  | { op: "set_shift"; state: ShiftState; handover?: boolean }
  | { op: "queue_view" }
  | { op: "accept_ticket"; ticket_id: number }
  | { op: "decline_offer"; ticket_id: number }
  | { op: "attach_chat"; ticket_id: number; group_id: Bytes }
  | { op: "transfer_chat"; group_id: Bytes; to?: number }
  | { op: "close_chat"; group_id: Bytes; tag: string }
  | { op: "block_visitor"; ticket_id: number; duration_secs: number; reason: string }
  | { op: "board" }
  | { op: "team_messages" }
  | { op: "take_team_message"; group_id: Bytes }
  | { op: "rescue_chat"; group_id: Bytes; to?: number }
  | { op: "escalate"; escalation: SignedEscalation }
  | { op: "set_duty"; state: DutyState }
  | { op: "escalation_queue" }
  | { op: "accept_escalation"; escalation_id: number }
  | { op: "resolve_escalation"; escalation_id: number; outcome: EscalationOutcome }
  | { op: "sos"; ticket_id?: number }
  | { op: "chat_feedback"; answer: FeedbackAnswer }
  | { op: "create_circle"; group_id: Bytes; name: string; language: string; topic: string; auto_approve?: boolean }
  | { op: "list_circles" }
  | { op: "create_invitation"; circle_id: number; expires_in_secs: number; max_uses: number }
  | { op: "list_invitations"; circle_id: number }
  | { op: "revoke_invitation"; circle_id: number; invitation_id: number }
  | { op: "preview_invitation"; code: string }
  | { op: "join_circle"; code: string; display_name: string; key_package: Bytes }
  | { op: "join_requests"; circle_id: number }
  | { op: "circle_roster"; circle_id: number }
  | { op: "decline_join"; circle_id: number; request_id: number }
  | { op: "set_muted"; circle_id: number; client_id: Bytes; muted: boolean }
  | { op: "set_moderator"; circle_id: number; client_id: Bytes; moderator: boolean }
  | { op: "leave_circle"; circle_id: number }
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

export interface Envelope {
  seq: number;
  group_id: Bytes;
  kind: EnvelopeKind;
  epoch: number;
  message: Bytes;
  ratchet_tree?: Bytes;
  received_at: number;
}

export interface GroupSummary {
  group_id: Bytes;
  epoch: number;
  members: number;
}

export type Response =
  | { kind: "authenticated"; client_id: Bytes; mailbox_head: number; one_time_key_packages: number; last_resort_key_package: boolean; staff?: StaffSelf }
  | { kind: "key_packages_published"; one_time: number; last_resort: boolean }
  | { kind: "key_package"; key_package: Bytes; last_resort: boolean }
  | { kind: "group_created"; group_id: Bytes; epoch: number }
  | { kind: "commit_accepted"; group_id: Bytes; epoch: number }
  | { kind: "message_accepted"; group_id: Bytes; epoch: number }
  | { kind: "subscribed"; head: number }
  | { kind: "backlog"; envelopes: Envelope[]; more: boolean }
  | { kind: "acked"; up_to: number }
  | { kind: "groups"; groups: GroupSummary[] }
  | { kind: "pong" }
  | { kind: "intake_info"; open: boolean; languages: string[]; topics: string[]; closing_tags: string[]; time_zone: string; opening_hours: OpeningWindow[]; help: Help; attestation_key: Bytes; pow?: PowChallenge }
  | { kind: "ticket"; ticket: TicketState }
  | { kind: "ticket_cancelled"; ticket_id: number }
  | { kind: "team_key_packages"; key_packages: Bytes[] }
  | { kind: "team_message_left"; group_id: Bytes; delivered_to: number }
  | { kind: "leaving_noted" }
  | { kind: "shift"; state: ShiftState; active_chats: number; handed_over?: number }
  | { kind: "queue"; tickets: QueueEntry[] }
  | { kind: "ticket_accepted"; ticket: QueueEntry; key_package?: Bytes; group_id?: Bytes }
  | { kind: "offer_declined"; ticket_id: number }
  | { kind: "chat_attached"; ticket_id: number; group_id: Bytes }
  | { kind: "transferred"; group_id: Bytes; to: StaffBadge; note_key_package: Bytes }
  | { kind: "chat_closed"; group_id: Bytes }
  | { kind: "blocked"; ticket_id: number; until: number }
  | { kind: "board"; queue_depth: number; longest_wait_secs: number; staff: BoardRow[]; stranded?: StrandedChat[]; open_escalations: number }
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
  | { kind: "join_requested"; circle_id: number; request_id: number }
  | { kind: "join_requests"; requests: JoinRequest[] }
  | { kind: "circle_roster"; circle_id: number; members: CircleMember[] }
  | { kind: "join_declined"; request_id: number }
  | { kind: "member_muted"; circle_id: number; client_id: Bytes; muted: boolean }
  | { kind: "moderator_set"; circle_id: number; client_id: Bytes; moderator: boolean }
  | { kind: "circle_left"; circle_id: number }
  | { kind: "circle_closed"; circle_id: number };

export type ResponseKind = Response["kind"];

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
  | { type: "challenge"; nonce: Bytes; versions: number[] }
  | { type: "response"; id: number; result: Response }
  | { type: "error"; id?: number; code: ErrorCode; message: string; current_epoch?: number; retry_after_secs?: number; pow?: PowChallenge; help?: Help }
  | { type: "envelope"; envelope: Envelope }
  | { type: "key_package_count"; one_time: number; last_resort: boolean }
  | { type: "ticket_update"; ticket: TicketState }
  | { type: "offer"; ticket: QueueEntry; expires_in_secs: number }
  | { type: "offer_withdrawn"; ticket_id: number }
  | { type: "queue_changed"; depth: number; longest_wait_secs: number }
  | { type: "chat_assigned"; group_id: Bytes; ticket: QueueEntry; from?: StaffBadge; remove_previous?: Bytes }
  | { type: "readd_visitor"; group_id: Bytes; old_client: Bytes; key_package: Bytes }
  | { type: "visitor_presence"; ticket_id: number; group_id: Bytes; presence: VisitorPresence }
  | { type: "chat_ended"; group_id: Bytes; ticket_id: number }
  | { type: "remove_revoked_members"; group_id: Bytes; clients: Bytes[] }
  | { type: "counsellor_reconnected"; group_id: Bytes; old_client: Bytes; key_package: Bytes; badge: StaffBadge }
  | { type: "team_messages_waiting"; messages: TeamMessage[] }
  | { type: "escalation_raised"; escalation: EscalationEntry }
  | { type: "escalation_changed"; escalation: EscalationEntry }
  | { type: "add_responder"; escalation_id: number; group_id: Bytes; responder: StaffBadge; key_package: Bytes }
  | { type: "escalation_fallback"; group_id: Bytes; help: Help }
  | { type: "sos_alert"; group_id: Bytes; ticket_id: number }
  | { type: "circle_join_request"; request: JoinRequest }
  | { type: "circle_member_left"; circle_id: number; client_id: Bytes }
  | { type: "circle_ended"; circle_id: number; group_id: Bytes };

export type ServerMessageType = ServerMessage["type"];

export interface ServerFrame {
  v: number;
  msg: ServerMessage;
}
