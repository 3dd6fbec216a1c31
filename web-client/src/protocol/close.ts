// WebSocket close codes the server uses, mirroring protocol/src/close.rs.
// PROTOCOL.md says what a client does on each.

export const CLOSE = {
  /** Closing normally. */
  NORMAL: 1000,
  /** The server is shutting down: reconnect later and resume from the cursor. */
  GOING_AWAY: 1001,
  /** A text message arrived; the protocol is binary only. */
  UNSUPPORTED_DATA: 1003,
  /** Authentication failed or timed out, or too many errors before it. */
  POLICY_VIOLATION: 1008,
  /** A frame exceeded the transport's hard size cap. */
  MESSAGE_TOO_BIG: 1009,
  /** Internal server fault (for example storage failure). */
  INTERNAL_ERROR: 1011,
  /** Another connection authenticated with the same key: do not reconnect automatically. */
  REPLACED: 4001,
  /** This client did not read fast enough: reconnect and resume from the cursor. */
  SLOW_CONSUMER: 4002,
  /** Nothing from this client for the idle timeout. */
  IDLE_TIMEOUT: 4003,
  /** The staff session ended (logout, expiry, revocation, account disabled): log in again. */
  SESSION_ENDED: 4004,
} as const;

export type CloseCode = (typeof CLOSE)[keyof typeof CLOSE];

/** Whether a client should reconnect by itself after the server closed with `code`. */
export function shouldReconnect(code: number): boolean {
  return (
    code !== CLOSE.REPLACED &&
    code !== CLOSE.POLICY_VIOLATION &&
    code !== CLOSE.UNSUPPORTED_DATA &&
    code !== CLOSE.SESSION_ENDED
  );
}
