// WebSocket close codes the server uses (protocol/src/close.rs): the codes
// themselves are generated (generated/constants.ts); PROTOCOL.md says what
// a client does on each.

import { CLOSE } from "./generated/constants";

export { CLOSE };

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
