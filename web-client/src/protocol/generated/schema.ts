// GENERATED from the Rust definitions in protocol/src: do not edit.
// The codec tables of protocol version 1: field order here is wire order.
// The wire description is protocol/tests/typescript/schema.rs, checked
// against the serde types; the documentation is on the Rust types.
// Regenerate: PARASOL_WRITE_TS=1 cargo test -p parasol-protocol --test typescript
// (without the variable the same test fails when this file is stale).

import { bin, bool, flag, list, nonEmptyList, nonZero, oneOf, optional, required, str, struct, tagged, u16, u32, u64, u8 } from "../fields";
import type {
  StaffRole,
  ShiftState,
  ClosedReason,
  StrandedReason,
  VisitorPresence,
  FeedbackAnswer,
  AuthProof,
  PowChallenge,
  PowSolution,
  LocalName,
  CrisisLine,
  Help,
  OpeningWindow,
  StaffBadge,
  CounsellorToAdd,
  TicketStatus,
  TicketState,
  QueueEntry,
  BoardRow,
  StrandedChat,
  TeamMessage,
  StaffSelf,
  Severity,
  Category,
  EscalationStatus,
  EscalationOutcome,
  DutyState,
  SignedEscalation,
  EscalationEntry,
  CircleInfo,
  InvitationState,
  InvitationPreview,
  CircleMember,
  JoinRequest,
  Request,
  ClientFrame,
  EnvelopeKind,
  Envelope,
  GroupSummary,
  Response,
  ErrorCode,
  ServerMessage,
  ServerFrame,
} from "./types";
import {
  STAFF_ROLES,
  SHIFT_STATES,
  CLOSED_REASONS,
  STRANDED_REASONS,
  VISITOR_PRESENCES,
  FEEDBACK_ANSWERS,
  SEVERITIES,
  CATEGORIES,
  ESCALATION_STATUSES,
  ESCALATION_OUTCOMES,
  DUTY_STATES,
  ENVELOPE_KINDS,
  ERROR_CODES,
} from "./types";

export const staffRole = oneOf<StaffRole>(STAFF_ROLES, "a staff role");

export const shiftState = oneOf<ShiftState>(SHIFT_STATES, "a shift state");

export const closedReason = oneOf<ClosedReason>(CLOSED_REASONS, "a closing reason");

export const strandedReason = oneOf<StrandedReason>(STRANDED_REASONS, "offline or clocked_out");

export const visitorPresence = oneOf<VisitorPresence>(VISITOR_PRESENCES, "a visitor presence");

export const feedbackAnswer = oneOf<FeedbackAnswer>(FEEDBACK_ANSWERS, "helped, somewhat or not_helped");

export const authProof = tagged<AuthProof, "method">("method", {
  ed25519_challenge: { public_key: required(bin), signature: required(bin) },
  staff_session: { token: required(str), public_key: required(bin), signature: required(bin) },
});

export const powChallenge = struct<PowChallenge>({ challenge: required(bin), difficulty_bits: required(u8) });

export const powSolution = struct<PowSolution>({ challenge: required(bin), nonce: required(bin) });

export const localName = struct<LocalName>({ language: required(str), name: required(str) });

export const crisisLine = struct<CrisisLine>({
  name: required(str),
  names: nonEmptyList(localName),
  number: required(str),
  hours: required(str),
});

export const help = struct<Help>({ crisis_lines: required(list(crisisLine)), next_open_at: optional(u64) });

export const openingWindow = struct<OpeningWindow>({ weekday: required(u8), opens: required(u16), closes: required(u16) });

export const staffBadge = struct<StaffBadge>({
  display_name: required(str),
  role: required(staffRole),
  signature_key: required(bin),
  expires_at: required(u64),
  attestation: required(bin),
  account_tag: optional(bin),
});

export const counsellorToAdd = struct<CounsellorToAdd>({ badge: required(staffBadge), key_package: required(bin) });

export const ticketStatus = tagged<TicketStatus, "state">("state", {
  waiting: { position: required(u32), estimated_wait_secs: required(u32), nobody_available: flag },
  in_chat: {
    group_id: required(bin),
    counsellor: required(staffBadge),
    transferred: flag,
    add_counsellor: optional(counsellorToAdd),
    responders: nonEmptyList(staffBadge),
    rescued: flag,
  },
  closed: { reason: required(closedReason) },
});

export const ticketState = struct<TicketState>({
  ticket_id: required(u64),
  status: required(ticketStatus),
  resume_secret: optional(bin),
  resume_grace_secs: required(u32),
});

export const queueEntry = struct<QueueEntry>({
  ticket_id: required(u64),
  language: required(str),
  topic: required(str),
  urgent: required(bool),
  waited_secs: required(u32),
  offered: required(bool),
  handover: flag,
});

export const boardRow = struct<BoardRow>({
  account_id: required(u64),
  display_name: required(str),
  role: required(staffRole),
  shift: required(shiftState),
  connected: required(bool),
  active_chats: required(u32),
  max_chats: required(u32),
});

export const strandedChat = struct<StrandedChat>({
  ticket_id: required(u64),
  group_id: required(bin),
  language: required(str),
  counsellor: required(str),
  counsellor_account: required(u64),
  reason: required(strandedReason),
});

export const teamMessage = struct<TeamMessage>({ group_id: required(bin), language: required(str), left_at: required(u64) });

export const staffSelf = struct<StaffSelf>({
  account_id: required(u64),
  role: required(staffRole),
  display_name: required(str),
  languages: required(list(str)),
  max_chats: required(u32),
  badge: required(staffBadge),
});

export const severity = oneOf<Severity>(SEVERITIES, "high or critical");

export const category = oneOf<Category>(CATEGORIES, "an escalation category");

export const escalationStatus = oneOf<EscalationStatus>(ESCALATION_STATUSES, "an escalation status");

export const escalationOutcome = oneOf<EscalationOutcome>(ESCALATION_OUTCOMES, "resolved or handed_off");

export const dutyState = oneOf<DutyState>(DUTY_STATES, "on_duty or off_duty");

export const signedEscalation = struct<SignedEscalation>({
  group_id: required(bin),
  severity: required(severity),
  category: required(category),
  issued_at: required(u64),
  signature: required(bin),
});

export const escalationEntry = struct<EscalationEntry>({
  escalation_id: required(u64),
  status: required(escalationStatus),
  request: required(signedEscalation),
  language: required(str),
  counsellor: required(staffBadge),
  responder: optional(staffBadge),
  waited_secs: required(u32),
  renotified: nonZero(u32),
});

export const circleInfo = struct<CircleInfo>({
  circle_id: required(u64),
  group_id: required(bin),
  name: required(str),
  language: required(str),
  topic: required(str),
  auto_approve: required(bool),
  moderator: required(bool),
  members: required(u32),
  max_members: required(u32),
});

export const invitationState = struct<InvitationState>({
  invitation_id: required(u64),
  circle_id: required(u64),
  code: optional(str),
  expires_at: required(u64),
  max_uses: required(u32),
  uses: required(u32),
  revoked: required(bool),
});

export const invitationPreview = struct<InvitationPreview>({
  circle_id: required(u64),
  group_id: required(bin),
  name: required(str),
  language: required(str),
  topic: required(str),
  auto_approve: required(bool),
});

export const circleMember = struct<CircleMember>({
  client_id: required(bin),
  display_name: required(str),
  moderator: required(bool),
  staff: flag,
  muted: flag,
});

export const joinRequest = struct<JoinRequest>({
  request_id: required(u64),
  circle_id: required(u64),
  client_id: required(bin),
  display_name: required(str),
  key_package: required(bin),
  requested_at: required(u64),
});

export const request = tagged<Request, "op">("op", {
  authenticate: { proof: required(authProof) },
  publish_key_packages: { key_packages: required(list(bin)), replace: flag },
  claim_key_package: { client_id: required(bin) },
  create_group: { group_info: required(bin), ratchet_tree: required(bin) },
  send_commit: {
    commit: required(bin),
    welcome: optional(bin),
    group_info: optional(bin),
    ratchet_tree: optional(bin),
  },
  send_message: { message: required(bin) },
  subscribe: { after: required(u64) },
  fetch_backlog: { after: required(u64), limit: required(u32) },
  ack: { up_to: required(u64) },
  list_groups: {},
  ping: {},
  intake_info: {},
  request_chat: {
    language: required(str),
    topic: required(str),
    urgent: flag,
    key_packages: required(list(bin)),
    pow: optional(powSolution),
  },
  cancel_ticket: { ticket_id: required(u64) },
  resume_ticket: { resume_secret: required(bin), key_packages: nonEmptyList(bin) },
  team_key_packages: {},
  leave_team_message: { group_id: required(bin), language: required(str) },
  visitor_leaving: { quick_exit: flag },
  set_shift: { state: required(shiftState), handover: flag },
  queue_view: {},
  accept_ticket: { ticket_id: required(u64) },
  decline_offer: { ticket_id: required(u64) },
  attach_chat: { ticket_id: required(u64), group_id: required(bin) },
  transfer_chat: { group_id: required(bin), to: optional(u64) },
  close_chat: { group_id: required(bin), tag: required(str) },
  block_visitor: { ticket_id: required(u64), duration_secs: required(u32), reason: required(str) },
  board: {},
  team_messages: {},
  take_team_message: { group_id: required(bin) },
  rescue_chat: { group_id: required(bin), to: optional(u64) },
  escalate: { escalation: required(signedEscalation) },
  set_duty: { state: required(dutyState) },
  escalation_queue: {},
  accept_escalation: { escalation_id: required(u64) },
  resolve_escalation: { escalation_id: required(u64), outcome: required(escalationOutcome) },
  sos: { ticket_id: optional(u64) },
  chat_feedback: { answer: required(feedbackAnswer) },
  create_circle: {
    group_id: required(bin),
    name: required(str),
    language: required(str),
    topic: required(str),
    auto_approve: flag,
  },
  list_circles: {},
  create_invitation: { circle_id: required(u64), expires_in_secs: required(u32), max_uses: required(u32) },
  list_invitations: { circle_id: required(u64) },
  revoke_invitation: { circle_id: required(u64), invitation_id: required(u64) },
  preview_invitation: { code: required(str) },
  join_circle: { code: required(str), display_name: required(str), key_package: required(bin) },
  join_requests: { circle_id: required(u64) },
  circle_roster: { circle_id: required(u64) },
  decline_join: { circle_id: required(u64), request_id: required(u64) },
  set_muted: { circle_id: required(u64), client_id: required(bin), muted: required(bool) },
  set_moderator: { circle_id: required(u64), client_id: required(bin), moderator: required(bool) },
  leave_circle: { circle_id: required(u64) },
  close_circle: { circle_id: required(u64) },
});

export const clientFrame = struct<ClientFrame>({ v: required(u16), id: required(u64), req: required(request) });

export const envelopeKind = oneOf<EnvelopeKind>(ENVELOPE_KINDS, "commit, application or welcome");

export const envelope = struct<Envelope>({
  seq: required(u64),
  group_id: required(bin),
  kind: required(envelopeKind),
  epoch: required(u64),
  message: required(bin),
  ratchet_tree: optional(bin),
  received_at: required(u64),
});

export const groupSummary = struct<GroupSummary>({ group_id: required(bin), epoch: required(u64), members: required(u32) });

export const response = tagged<Response, "kind">("kind", {
  authenticated: {
    client_id: required(bin),
    mailbox_head: required(u64),
    one_time_key_packages: required(u32),
    last_resort_key_package: required(bool),
    staff: optional(staffSelf),
  },
  key_packages_published: { one_time: required(u32), last_resort: required(bool) },
  key_package: { key_package: required(bin), last_resort: required(bool) },
  group_created: { group_id: required(bin), epoch: required(u64) },
  commit_accepted: { group_id: required(bin), epoch: required(u64) },
  message_accepted: { group_id: required(bin), epoch: required(u64) },
  subscribed: { head: required(u64) },
  backlog: { envelopes: required(list(envelope)), more: required(bool) },
  acked: { up_to: required(u64) },
  groups: { groups: required(list(groupSummary)) },
  pong: {},
  intake_info: {
    open: required(bool),
    languages: required(list(str)),
    topics: required(list(str)),
    closing_tags: required(list(str)),
    time_zone: required(str),
    opening_hours: required(list(openingWindow)),
    help: required(help),
    attestation_key: required(bin),
    pow: optional(powChallenge),
  },
  ticket: { ticket: required(ticketState) },
  ticket_cancelled: { ticket_id: required(u64) },
  team_key_packages: { key_packages: required(list(bin)) },
  team_message_left: { group_id: required(bin), delivered_to: required(u32) },
  leaving_noted: {},
  shift: { state: required(shiftState), active_chats: required(u32), handed_over: nonZero(u32) },
  queue: { tickets: required(list(queueEntry)) },
  ticket_accepted: { ticket: required(queueEntry), key_package: optional(bin), group_id: optional(bin) },
  offer_declined: { ticket_id: required(u64) },
  chat_attached: { ticket_id: required(u64), group_id: required(bin) },
  transferred: { group_id: required(bin), to: required(staffBadge), note_key_package: required(bin) },
  chat_closed: { group_id: required(bin) },
  blocked: { ticket_id: required(u64), until: required(u64) },
  board: {
    queue_depth: required(u32),
    longest_wait_secs: required(u32),
    staff: required(list(boardRow)),
    stranded: nonEmptyList(strandedChat),
    open_escalations: required(u32),
  },
  team_messages: { messages: required(list(teamMessage)) },
  team_message_taken: { group_id: required(bin) },
  chat_rescued: { group_id: required(bin), to: required(staffBadge) },
  escalated: { escalation: required(escalationEntry) },
  duty: { state: required(dutyState), open_escalations: required(u32) },
  escalations: { escalations: required(list(escalationEntry)) },
  escalation_accepted: { escalation: required(escalationEntry) },
  escalation_resolved: { escalation: required(escalationEntry) },
  sos_raised: { help: required(help), ticket: optional(ticketState) },
  feedback_recorded: {},
  circle: { circle: required(circleInfo) },
  circles: { circles: required(list(circleInfo)) },
  invitation: { invitation: required(invitationState) },
  invitations: { invitations: required(list(invitationState)) },
  invitation_revoked: { invitation_id: required(u64) },
  invitation_preview: { preview: required(invitationPreview) },
  join_requested: { circle_id: required(u64), request_id: required(u64) },
  join_requests: { requests: required(list(joinRequest)) },
  circle_roster: { circle_id: required(u64), members: required(list(circleMember)) },
  join_declined: { request_id: required(u64) },
  member_muted: { circle_id: required(u64), client_id: required(bin), muted: required(bool) },
  moderator_set: { circle_id: required(u64), client_id: required(bin), moderator: required(bool) },
  circle_left: { circle_id: required(u64) },
  circle_closed: { circle_id: required(u64) },
});

export const errorCode = oneOf<ErrorCode>(ERROR_CODES, "an error code of protocol version 1");

export const serverMessage = tagged<ServerMessage, "type">("type", {
  challenge: { nonce: required(bin), versions: required(list(u16)) },
  response: { id: required(u64), result: required(response) },
  error: {
    id: optional(u64),
    code: required(errorCode),
    message: required(str),
    current_epoch: optional(u64),
    retry_after_secs: optional(u32),
    pow: optional(powChallenge),
    help: optional(help),
  },
  envelope: { envelope: required(envelope) },
  key_package_count: { one_time: required(u32), last_resort: required(bool) },
  ticket_update: { ticket: required(ticketState) },
  offer: { ticket: required(queueEntry), expires_in_secs: required(u32) },
  offer_withdrawn: { ticket_id: required(u64) },
  queue_changed: { depth: required(u32), longest_wait_secs: required(u32) },
  chat_assigned: {
    group_id: required(bin),
    ticket: required(queueEntry),
    from: optional(staffBadge),
    remove_previous: optional(bin),
  },
  readd_visitor: { group_id: required(bin), old_client: required(bin), key_package: required(bin) },
  visitor_presence: {
    ticket_id: required(u64),
    group_id: required(bin),
    presence: required(visitorPresence),
  },
  chat_ended: { group_id: required(bin), ticket_id: required(u64) },
  remove_revoked_members: { group_id: required(bin), clients: required(list(bin)) },
  counsellor_reconnected: {
    group_id: required(bin),
    old_client: required(bin),
    key_package: required(bin),
    badge: required(staffBadge),
  },
  team_messages_waiting: { messages: required(list(teamMessage)) },
  escalation_raised: { escalation: required(escalationEntry) },
  escalation_changed: { escalation: required(escalationEntry) },
  add_responder: {
    escalation_id: required(u64),
    group_id: required(bin),
    responder: required(staffBadge),
    key_package: required(bin),
  },
  escalation_fallback: { group_id: required(bin), help: required(help) },
  sos_alert: { group_id: required(bin), ticket_id: required(u64) },
  circle_join_request: { request: required(joinRequest) },
  circle_member_left: { circle_id: required(u64), client_id: required(bin) },
  circle_ended: { circle_id: required(u64), group_id: required(bin) },
});

export const serverFrame = struct<ServerFrame>({ v: required(u16), msg: required(serverMessage) });
