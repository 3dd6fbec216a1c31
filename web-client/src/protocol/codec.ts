// MessagePack encoding of frames, mirroring protocol/src/codec.rs.
//
// Encoding is byte-identical to rmp-serde's `to_vec_named`: maps with string
// keys in struct field order (the tag first), optional fields left out when
// absent, integers in their smallest form. Decoding is as strict as the Rust
// decoder: wrong types, missing fields, repeated fields, trailing bytes and
// unknown versions are rejected, unknown fields are ignored (as serde does),
// and nothing throws: every failure is a typed FrameError.

import { encode as msgpackEncode } from "@msgpack/msgpack";

import type { CircleInfo, CircleMember, InvitationPreview, InvitationState, JoinRequest } from "./circle";
import { type ErrorCode, type FrameError, ERROR_CODES } from "./error";
import {
  type Category,
  type DutyState,
  type EscalationEntry,
  type EscalationOutcome,
  type EscalationStatus,
  type Severity,
  type SignedEscalation,
  CATEGORIES,
  DUTY_STATES,
  ESCALATION_OUTCOMES,
  ESCALATION_STATUSES,
  SEVERITIES,
} from "./escalation";
import {
  type AuthProof,
  type ClientFrame,
  type Envelope,
  type EnvelopeKind,
  type GroupSummary,
  type Request,
  type Response,
  type ServerFrame,
  type ServerMessage,
  type StaffSelf,
  OPERATIONS,
  PROTOCOL_VERSION,
} from "./frame";
import {
  type BoardRow,
  type ClosedReason,
  type CounsellorToAdd,
  type CrisisLine,
  type FeedbackAnswer,
  type Help,
  type OpeningWindow,
  type PowChallenge,
  type PowSolution,
  type QueueEntry,
  type ShiftState,
  type StaffBadge,
  type StaffRole,
  type StrandedChat,
  type StrandedReason,
  type TeamMessage,
  type TicketState,
  type TicketStatus,
  type VisitorPresence,
  CLOSED_REASONS,
  FEEDBACK_ANSWERS,
  SHIFT_STATES,
  STAFF_ROLES,
  STRANDED_REASONS,
  VISITOR_PRESENCES,
} from "./intake";
import { MAX_FRAME_BYTES } from "./limits";
import { type MsgMap, type MsgValue, BigUint, readExact, readValue } from "./msgpack";

export type Decoded<T> = { ok: true; frame: T } | { ok: false; error: FrameError };

// ---------------------------------------------------------------------------
// Field codecs. Decoders throw `Reject`, which never leaves this module.

class Reject {
  constructor(readonly reason: string) {}
}

interface Codec<T> {
  decode(v: MsgValue, path: string): T;
  encode(x: T, path: string): unknown;
}

/** A struct field: required, or optional (left out of the map when absent). */
interface Field<T, Optional extends boolean> {
  readonly optional: Optional;
  /** `undefined` means: leave the field out of the decoded value. */
  decode(v: MsgValue, path: string): T | undefined;
  /** `undefined` means: leave the field out of the encoded map. */
  encode(x: T, path: string): unknown;
}

/** The field specs of struct `T`, in wire order; optional keys need optional fields. */
type Fields<T> = {
  [K in keyof T]-?: {} extends Pick<T, K> ? Field<Exclude<T[K], undefined>, true> : Field<T[K], false>;
};

function describe(v: MsgValue): string {
  if (v === null) return "nil";
  if (v instanceof Uint8Array) return "bytes";
  if (v instanceof Map) return "map";
  if (Array.isArray(v)) return "array";
  if (v instanceof BigUint) return "integer";
  return typeof v === "number" ? "integer" : typeof v;
}

function typeError(v: MsgValue, expected: string, path: string): Reject {
  return new Reject(`${path}: invalid type: ${describe(v)}, expected ${expected}`);
}

function uint(bits: 8 | 16 | 32 | 53): Codec<number> {
  const max = bits === 53 ? Number.MAX_SAFE_INTEGER : 2 ** bits - 1;
  const name = bits === 53 ? "u64" : `u${bits}`;
  return {
    decode(v, path) {
      if (v instanceof BigUint) {
        throw new Reject(`${path}: integer ${v.value} is above 2^53, which the protocol never uses`);
      }
      if (typeof v !== "number") throw typeError(v, name, path);
      if (v < 0 || v > max) throw new Reject(`${path}: integer ${v} out of range for ${name}`);
      return v;
    },
    encode(x, path) {
      if (!Number.isInteger(x) || x < 0 || x > max) throw new RangeError(`${path}: ${x} is not a valid ${name}`);
      return x;
    },
  };
}

const u8 = uint(8);
const u16 = uint(16);
const u32 = uint(32);
const u64 = uint(53);

const bool: Codec<boolean> = {
  decode(v, path) {
    if (typeof v !== "boolean") throw typeError(v, "a boolean", path);
    return v;
  },
  encode: (x) => x,
};

const bin: Codec<Uint8Array> = {
  decode(v, path) {
    if (!(v instanceof Uint8Array)) throw typeError(v, "bytes", path);
    return v;
  },
  encode(x, path) {
    if (!(x instanceof Uint8Array)) throw new TypeError(`${path}: expected a Uint8Array`);
    return x;
  },
};

const str: Codec<string> = {
  decode(v, path) {
    if (typeof v !== "string") throw typeError(v, "a string", path);
    return v;
  },
  encode: (x) => x,
};

function oneOf<T extends string>(values: readonly T[], what: string): Codec<T> {
  return {
    decode(v, path) {
      if (typeof v !== "string") throw typeError(v, what, path);
      if (!(values as readonly string[]).includes(v)) {
        throw new Reject(`${path}: unknown variant \`${truncate(v, 40)}\`, expected ${what}`);
      }
      return v as T;
    },
    encode(x, path) {
      if (!(values as readonly string[]).includes(x)) throw new RangeError(`${path}: \`${x}\` is not ${what}`);
      return x;
    },
  };
}

function list<T>(item: Codec<T>): Codec<T[]> {
  return {
    decode(v, path) {
      if (!Array.isArray(v)) throw typeError(v, "an array", path);
      return v.map((e, i) => item.decode(e, `${path}[${i}]`));
    },
    encode: (xs, path) => xs.map((x, i) => item.encode(x, `${path}[${i}]`)),
  };
}

function required<T>(codec: Codec<T>): Field<T, false> {
  return { optional: false, decode: codec.decode, encode: codec.encode };
}

/** `Option<T>` with `skip_serializing_if = "Option::is_none"`; nil reads as absent. */
function optional<T>(codec: Codec<T>): Field<T, true> {
  return {
    optional: true,
    decode: (v, path) => (v === null ? undefined : codec.decode(v, path)),
    encode: (x, path) => (x === undefined ? undefined : codec.encode(x, path)),
  };
}

/** `bool` with `default` and `skip_serializing_if = "Not::not"`: only `true` is sent. */
const flag: Field<boolean, true> = {
  optional: true,
  decode: (v, path) => (bool.decode(v, path) ? true : undefined),
  encode: (x) => (x ? true : undefined),
};

/** `Vec<T>` with `default` and `skip_serializing_if = "Vec::is_empty"`: an empty list is left out. */
function nonEmptyList<T>(item: Codec<T>): Field<T[], true> {
  const codec = list(item);
  return {
    optional: true,
    decode: (v, path) => {
      const xs = codec.decode(v, path);
      return xs.length === 0 ? undefined : xs;
    },
    encode: (xs, path) => (xs.length === 0 ? undefined : codec.encode(xs, path)),
  };
}

/** An integer with `default` and a skip when zero: 0 is left out. */
function nonZero(codec: Codec<number>): Field<number, true> {
  return {
    optional: true,
    decode: (v, path) => {
      const n = codec.decode(v, path);
      return n === 0 ? undefined : n;
    },
    encode: (n, path) => (n === 0 ? undefined : codec.encode(n, path)),
  };
}

type AnyField = Field<unknown, boolean>;

function decodeFields(fields: Record<string, AnyField>, map: MsgMap, path: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, field] of Object.entries(fields)) {
    const raw = map.get(name);
    if (raw === undefined) {
      if (!field.optional) throw new Reject(`${path}: missing field \`${name}\``);
      continue;
    }
    const value = field.decode(raw, `${path}.${name}`);
    if (value !== undefined) out[name] = value;
  }
  return out;
}

function encodeFields(fields: Record<string, AnyField>, x: Record<string, unknown>, path: string, into: Record<string, unknown>): void {
  for (const [name, field] of Object.entries(fields)) {
    const value = x[name];
    if (value === undefined) {
      if (!field.optional) throw new TypeError(`${path}: missing field \`${name}\``);
      continue;
    }
    const encoded = field.encode(value, `${path}.${name}`);
    if (encoded !== undefined) into[name] = encoded;
  }
}

function asMap(v: MsgValue, path: string): MsgMap {
  if (!(v instanceof Map)) throw typeError(v, "a map", path);
  return v;
}

function struct<T>(fields: Fields<T>): Codec<T> {
  const f = fields as unknown as Record<string, AnyField>;
  return {
    decode: (v, path) => decodeFields(f, asMap(v, path), path) as T,
    encode(x, path) {
      const out: Record<string, unknown> = {};
      encodeFields(f, x as Record<string, unknown>, path, out);
      return out;
    },
  };
}

type Variants<U, Tag extends keyof U> = {
  [K in U[Tag] & string]: Fields<Omit<Extract<U, Record<Tag, K>>, Tag>>;
};

/** A serde internally tagged enum: the tag is the map's first key. */
function tagged<U extends Record<Tag, string>, Tag extends string>(tag: Tag, variants: Variants<U, Tag>): Codec<U> {
  const table = variants as unknown as Record<string, Record<string, AnyField>>;
  const names = Object.keys(table);
  return {
    decode(v, path) {
      const map = asMap(v, path);
      const name = map.get(tag);
      if (name === undefined) throw new Reject(`${path}: missing field \`${tag}\``);
      if (typeof name !== "string") throw typeError(name, `a \`${tag}\` string`, `${path}.${tag}`);
      const fields = Object.hasOwn(table, name) ? table[name] : undefined;
      if (fields === undefined) {
        throw new Reject(`${path}.${tag}: unknown variant \`${truncate(name, 40)}\`, expected one of ${names.join(", ")}`);
      }
      return { [tag]: name, ...decodeFields(fields, map, path) } as U;
    },
    encode(x, path) {
      const name = x[tag];
      const fields = Object.hasOwn(table, name) ? table[name] : undefined;
      if (fields === undefined) throw new RangeError(`${path}.${tag}: unknown variant \`${name}\``);
      const out: Record<string, unknown> = { [tag]: name };
      encodeFields(fields, x as Record<string, unknown>, path, out);
      return out;
    },
  };
}

// ---------------------------------------------------------------------------
// The schema of protocol version 1. Field order here is wire order.

const staffRole = oneOf<StaffRole>(STAFF_ROLES, "a staff role");
const shiftState = oneOf<ShiftState>(SHIFT_STATES, "a shift state");
const closedReason = oneOf<ClosedReason>(CLOSED_REASONS, "a closing reason");
const strandedReason = oneOf<StrandedReason>(STRANDED_REASONS, "offline or clocked_out");
const visitorPresence = oneOf<VisitorPresence>(VISITOR_PRESENCES, "a visitor presence");
const feedbackAnswer = oneOf<FeedbackAnswer>(FEEDBACK_ANSWERS, "helped, somewhat or not_helped");

const authProof = tagged<AuthProof, "method">("method", {
  ed25519_challenge: { public_key: required(bin), signature: required(bin) },
  staff_session: { token: required(str), public_key: required(bin), signature: required(bin) },
});

const powChallenge = struct<PowChallenge>({ challenge: required(bin), difficulty_bits: required(u8) });
const powSolution = struct<PowSolution>({ challenge: required(bin), nonce: required(bin) });

const crisisLine = struct<CrisisLine>({ name: required(str), number: required(str), hours: required(str) });
const help = struct<Help>({ crisis_lines: required(list(crisisLine)), next_open_at: optional(u64) });
const openingWindow = struct<OpeningWindow>({ weekday: required(u8), opens: required(u16), closes: required(u16) });

const staffBadge = struct<StaffBadge>({
  display_name: required(str),
  role: required(staffRole),
  signature_key: required(bin),
  expires_at: required(u64),
  attestation: required(bin),
  account_tag: optional(bin),
});

const counsellorToAdd = struct<CounsellorToAdd>({ badge: required(staffBadge), key_package: required(bin) });

const ticketStatus = tagged<TicketStatus, "state">("state", {
  waiting: { position: required(u32), estimated_wait_secs: required(u32) },
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

const ticketState = struct<TicketState>({
  ticket_id: required(u64),
  status: required(ticketStatus),
  resume_secret: optional(bin),
  resume_grace_secs: required(u32),
});

const queueEntry = struct<QueueEntry>({
  ticket_id: required(u64),
  language: required(str),
  topic: required(str),
  urgent: required(bool),
  waited_secs: required(u32),
  offered: required(bool),
  handover: flag,
});

const boardRow = struct<BoardRow>({
  account_id: required(u64),
  display_name: required(str),
  role: required(staffRole),
  shift: required(shiftState),
  connected: required(bool),
  active_chats: required(u32),
  max_chats: required(u32),
});

const strandedChat = struct<StrandedChat>({
  ticket_id: required(u64),
  group_id: required(bin),
  language: required(str),
  counsellor: required(str),
  counsellor_account: required(u64),
  reason: required(strandedReason),
});

const teamMessage = struct<TeamMessage>({ group_id: required(bin), language: required(str), left_at: required(u64) });

const staffSelf = struct<StaffSelf>({
  account_id: required(u64),
  role: required(staffRole),
  display_name: required(str),
  languages: required(list(str)),
  max_chats: required(u32),
  badge: required(staffBadge),
});

const severity = oneOf<Severity>(SEVERITIES, "high or critical");
const category = oneOf<Category>(CATEGORIES, "an escalation category");
const escalationStatus = oneOf<EscalationStatus>(ESCALATION_STATUSES, "an escalation status");
const escalationOutcome = oneOf<EscalationOutcome>(ESCALATION_OUTCOMES, "resolved or handed_off");
const dutyState = oneOf<DutyState>(DUTY_STATES, "on_duty or off_duty");

const signedEscalation = struct<SignedEscalation>({
  group_id: required(bin),
  severity: required(severity),
  category: required(category),
  issued_at: required(u64),
  signature: required(bin),
});

const escalationEntry = struct<EscalationEntry>({
  escalation_id: required(u64),
  status: required(escalationStatus),
  request: required(signedEscalation),
  language: required(str),
  counsellor: required(staffBadge),
  responder: optional(staffBadge),
  waited_secs: required(u32),
  renotified: nonZero(u32),
});

const circleInfo = struct<CircleInfo>({
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

const invitationState = struct<InvitationState>({
  invitation_id: required(u64),
  circle_id: required(u64),
  code: optional(str),
  expires_at: required(u64),
  max_uses: required(u32),
  uses: required(u32),
  revoked: required(bool),
});

const invitationPreview = struct<InvitationPreview>({
  circle_id: required(u64),
  group_id: required(bin),
  name: required(str),
  language: required(str),
  topic: required(str),
  auto_approve: required(bool),
});

const circleMember = struct<CircleMember>({
  client_id: required(bin),
  display_name: required(str),
  moderator: required(bool),
  staff: flag,
  muted: flag,
});

const joinRequest = struct<JoinRequest>({
  request_id: required(u64),
  circle_id: required(u64),
  client_id: required(bin),
  display_name: required(str),
  key_package: required(bin),
  requested_at: required(u64),
});

const request = tagged<Request, "op">("op", {
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

const clientFrame = struct<ClientFrame>({ v: required(u16), id: required(u64), req: required(request) });

const envelopeKind = oneOf<EnvelopeKind>(["commit", "application", "welcome"], "commit, application or welcome");

const envelope = struct<Envelope>({
  seq: required(u64),
  group_id: required(bin),
  kind: required(envelopeKind),
  epoch: required(u64),
  message: required(bin),
  ratchet_tree: optional(bin),
  received_at: required(u64),
});

const groupSummary = struct<GroupSummary>({ group_id: required(bin), epoch: required(u64), members: required(u32) });

const response = tagged<Response, "kind">("kind", {
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

const errorCode = oneOf<ErrorCode>(ERROR_CODES, "an error code of protocol version 1");

const serverMessage = tagged<ServerMessage, "type">("type", {
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
  chat_ended: { group_id: required(bin), ticket_id: required(u64) },
  remove_revoked_members: { group_id: required(bin), clients: required(list(bin)) },
  counsellor_reconnected: {
    group_id: required(bin),
    old_client: required(bin),
    key_package: required(bin),
    badge: required(staffBadge),
  },
  visitor_presence: { ticket_id: required(u64), group_id: required(bin), presence: required(visitorPresence) },
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

const serverFrame = struct<ServerFrame>({ v: required(u16), msg: required(serverMessage) });

// ---------------------------------------------------------------------------
// Public API.

/**
 * Encode a client frame. Throws TypeError/RangeError only for a frame that
 * breaks its own type (a programming error), never for valid input.
 */
export function encodeClientFrame(frame: ClientFrame): Uint8Array {
  return msgpackEncode(clientFrame.encode(frame, "frame"));
}

/** Encode a server frame (used by tests and fakes of the server). */
export function encodeServerFrame(frame: ServerFrame): Uint8Array {
  return msgpackEncode(serverFrame.encode(frame, "frame"));
}

function frameError(code: ErrorCode, message: string, requestId?: number): FrameError {
  return requestId === undefined ? { code, message } : { code, message, requestId };
}

function unsupportedVersion(v: number, requestId?: number): FrameError {
  return frameError(
    "unsupported_version",
    `protocol version ${v} is not supported; this client speaks ${PROTOCOL_VERSION}`,
    requestId,
  );
}

function decodeWith<T>(codec: Codec<T>, bytes: Uint8Array): { ok: true; value: T } | { ok: false; reason: string } {
  const read = readExact(bytes);
  if (!read.ok) return read;
  try {
    return { ok: true, value: codec.decode(read.value, "frame") };
  } catch (e) {
    if (e instanceof Reject) return { ok: false, reason: e.reason };
    return { ok: false, reason: "undecodable frame" };
  }
}

/** What the Rust server's `FrameProbe` recovers from a bad frame, to answer it usefully. */
interface Probe {
  v?: number;
  id?: number;
  op?: string;
}

/**
 * Like the Rust probe: reads the first value (trailing bytes allowed), and
 * fails when `v`, `id`, `req` or `req.op` is present with the wrong type.
 */
function probe(bytes: Uint8Array): Probe | undefined {
  const read = readValue(bytes);
  if (!read.ok || !(read.value instanceof Map)) return undefined;
  const map = read.value;
  const out: Probe = {};
  try {
    const v = map.get("v");
    if (v !== undefined && v !== null) out.v = u16.decode(v, "v");
    const id = map.get("id");
    if (id !== undefined && id !== null) out.id = u64.decode(id, "id");
    const req = map.get("req");
    if (req !== undefined && req !== null) {
      const op = asMap(req, "req").get("op");
      if (op !== undefined && op !== null) out.op = str.decode(op, "req.op");
    }
  } catch {
    return undefined;
  }
  return out;
}

/**
 * Decode a client frame of at most `maxLen` bytes, with the same error code
 * and request id the server would answer with (checked by invalid.json).
 */
export function decodeClientFrame(bytes: Uint8Array, maxLen: number = MAX_FRAME_BYTES): Decoded<ClientFrame> {
  if (bytes.length > maxLen) {
    const error = frameError(
      "frame_too_large",
      `frame of ${bytes.length} bytes exceeds the limit of ${maxLen}`,
      probe(bytes)?.id,
    );
    return { ok: false, error };
  }
  const decoded = decodeWith(clientFrame, bytes);
  if (decoded.ok) {
    const frame = decoded.value;
    if (frame.v === PROTOCOL_VERSION) return { ok: true, frame };
    return { ok: false, error: unsupportedVersion(frame.v, frame.id) };
  }
  const p = probe(bytes);
  if (p === undefined) return { ok: false, error: frameError("malformed_frame", "not a MessagePack frame map") };
  if (p.v === undefined) return { ok: false, error: frameError("malformed_frame", "frame has no version `v`", p.id) };
  if (p.v !== PROTOCOL_VERSION) return { ok: false, error: unsupportedVersion(p.v, p.id) };
  if (p.op !== undefined && !(OPERATIONS as readonly string[]).includes(p.op)) {
    return { ok: false, error: frameError("unknown_operation", `unknown operation \`${truncate(p.op, 40)}\``, p.id) };
  }
  return { ok: false, error: frameError("malformed_frame", truncate(decoded.reason, 200), p.id) };
}

/** Decode a frame from the server. */
export function decodeServerFrame(bytes: Uint8Array): Decoded<ServerFrame> {
  const decoded = decodeWith(serverFrame, bytes);
  if (!decoded.ok) return { ok: false, error: frameError("malformed_frame", truncate(decoded.reason, 200)) };
  if (decoded.value.v !== PROTOCOL_VERSION) return { ok: false, error: unsupportedVersion(decoded.value.v) };
  return { ok: true, frame: decoded.value };
}

function truncate(s: string, max: number): string {
  const chars = Array.from(s);
  return chars.length > max ? `${chars.slice(0, max).join("")}…` : s;
}
