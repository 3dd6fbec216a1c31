//! WebSocket close codes the server uses. Documented in PROTOCOL.md.

/// Closing normally, e.g. the client said goodbye.
pub const NORMAL: u16 = 1000;
/// The server is shutting down; reconnect later and resume from your cursor.
pub const GOING_AWAY: u16 = 1001;
/// A text frame arrived; the protocol is binary only.
pub const UNSUPPORTED_DATA: u16 = 1003;
/// Authentication failed or did not happen in time, or the client kept
/// sending bad frames.
pub const POLICY_VIOLATION: u16 = 1008;
/// A frame exceeded the transport's hard size cap.
pub const MESSAGE_TOO_BIG: u16 = 1009;
/// The server hit an internal fault (for example storage failure).
pub const INTERNAL_ERROR: u16 = 1011;
/// Another connection authenticated with the same identity key; this one is
/// replaced. Clients should not reconnect automatically on this code.
pub const REPLACED: u16 = 4001;
/// The client did not read its pushed frames fast enough and its bounded send
/// queue filled up. Reconnect and resume from the cursor.
pub const SLOW_CONSUMER: u16 = 4002;
/// No frame (not even a ping) arrived within the idle timeout.
pub const IDLE_TIMEOUT: u16 = 4003;
/// The staff session ended: logged out, expired, revoked or the account
/// disabled. Log in again before reconnecting.
pub const SESSION_ENDED: u16 = 4004;
