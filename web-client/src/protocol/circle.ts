// Peer support circles, as protocol/src/circle.rs: invitation codes and
// the limits on names. The circle types are generated: generated/types.ts.

/** Characters of an invitation code: Crockford's base32 (no I, L, O, U). */
export const INVITATION_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
export const INVITATION_CODE_CHARS = 12;
export const MAX_CIRCLE_TEXT_CHARS = 80;
export const MAX_DISPLAY_NAME_CHARS = 40;

/**
 * An invitation code as typed: case, spaces and dashes do not matter, and
 * O, I and L read as 0, 1 and 1. `undefined` if it cannot be a code.
 */
export function normalizeInvitationCode(typed: string): string | undefined {
  let code = "";
  for (const raw of typed) {
    if (raw === " " || raw === "-") continue;
    let c = raw.toUpperCase();
    if (c === "O") c = "0";
    if (c === "I" || c === "L") c = "1";
    if (!INVITATION_ALPHABET.includes(c) || c.length !== 1) return undefined;
    code += c;
  }
  return code.length === INVITATION_CODE_CHARS ? code : undefined;
}

/** A code shown in groups of four, as on a card handed out in outreach. */
export function formatInvitationCode(code: string): string {
  return code.match(/.{1,4}/g)?.join("-") ?? code;
}
