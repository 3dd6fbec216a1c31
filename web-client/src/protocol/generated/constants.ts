// GENERATED from the Rust definitions in protocol/src: do not edit.
// The limits (the server's default configuration) and the WebSocket close codes.
// The wire description is protocol/tests/typescript/schema.rs, checked
// against the serde types; the documentation is on the Rust types.
// Regenerate: PARASOL_WRITE_TS=1 cargo test -p parasol-protocol --test typescript
// (without the variable the same test fails when this file is stale).

/**
 * Largest frame the protocol accepts (bytes). Larger frames get
 * `frame_too_large`; frames past [`TRANSPORT_SLACK_BYTES`] more than this
 * close the socket with 1009.
 */
export const MAX_FRAME_BYTES = 1048576;
/**
 * Extra bytes the transport reads before giving up on a frame, so that a
 * frame slightly over the limit still gets a typed error.
 */
export const TRANSPORT_SLACK_BYTES = 65536;
/**
 * Largest single MLS message (commit, welcome, application message). Text
 * chat needs far less; a commit adding 50 members needs about 25 KiB.
 */
export const MAX_MLS_MESSAGE_BYTES = 65536;
/** Largest ratchet tree or GroupInfo accepted with a commit bundle. */
export const MAX_GROUP_STATE_BYTES = 262144;
/** Largest key package (a normal one is about 300 bytes). */
export const MAX_KEY_PACKAGE_BYTES = 8192;
/** One-time key packages a client may have stored at once. */
export const MAX_KEY_PACKAGES_PER_CLIENT = 100;
/** Key packages in one `publish_key_packages` request. */
export const MAX_KEY_PACKAGES_PER_PUBLISH = 100;
/** Longest key package lifetime the directory accepts (90 days, in seconds). */
export const MAX_KEY_PACKAGE_LIFETIME_SECS = 7776000;
/** Groups a client may be a member of. */
export const MAX_GROUPS_PER_CLIENT = 100;
/** Members in one group. */
export const MAX_MEMBERS_PER_GROUP = 100;
/** Envelopes waiting in one client's mailbox. */
export const MAX_MAILBOX_ENVELOPES = 10000;
/** Envelopes returned by one `fetch_backlog`. */
export const MAX_FETCH_LIMIT = 500;
/**
 * Pushed envelopes a connection may have unacknowledged before the server
 * pauses pushing (flow control).
 */
export const PUSH_WINDOW = 1024;

/** The WebSocket close codes the server uses; PROTOCOL.md says what a client does on each. */
export const CLOSE = {
  /** Closing normally, e.g. the client said goodbye. */
  NORMAL: 1000,
  /** The server is shutting down; reconnect later and resume from your cursor. */
  GOING_AWAY: 1001,
  /** A text frame arrived; the protocol is binary only. */
  UNSUPPORTED_DATA: 1003,
  /**
   * Authentication failed or did not happen in time, or the client kept
   * sending bad frames.
   */
  POLICY_VIOLATION: 1008,
  /** A frame exceeded the transport's hard size cap. */
  MESSAGE_TOO_BIG: 1009,
  /** The server hit an internal fault (for example storage failure). */
  INTERNAL_ERROR: 1011,
  /**
   * Another connection authenticated with the same identity key; this one is
   * replaced. Clients should not reconnect automatically on this code.
   */
  REPLACED: 4001,
  /**
   * The client did not read its pushed frames fast enough and its bounded send
   * queue filled up. Reconnect and resume from the cursor.
   */
  SLOW_CONSUMER: 4002,
  /** No frame (not even a ping) arrived within the idle timeout. */
  IDLE_TIMEOUT: 4003,
  /**
   * The staff session ended: logged out, expired, revoked or the account
   * disabled. Log in again before reconnecting.
   */
  SESSION_ENDED: 4004,
} as const;
