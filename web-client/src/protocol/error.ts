// Typed errors: the codes every client must understand. Mirrors
// protocol/src/error.rs; PROTOCOL.md explains each code and what to do.

/** Every error code of protocol version 1, in the order of error.rs. */
export const ERROR_CODES = [
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
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export function isErrorCode(s: string): s is ErrorCode {
  return (ERROR_CODES as readonly string[]).includes(s);
}

/**
 * Why a frame could not be decoded, with the request id when it could be
 * recovered (so an error can answer the right request).
 */
export interface FrameError {
  code: ErrorCode;
  requestId?: number;
  message: string;
}
