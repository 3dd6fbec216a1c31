// Typed errors: protocol/src/error.rs; PROTOCOL.md explains each code and
// what to do. The codes themselves are generated: generated/types.ts.

import { type ErrorCode, ERROR_CODES } from "./generated/types";

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
