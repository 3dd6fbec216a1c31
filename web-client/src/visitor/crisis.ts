// Who joined the visitor's chat: a crisis responder only when the ticket
// names them (`in_chat.responders`) with a badge that verifies here, with
// the role crisis_responder, for exactly the key the MLS commit added.
// Anyone else stays "unverified". Pure: no I/O, no MLS.

import { type StaffBadge, verifiedKeyWithRole } from "../protocol";
import { equalBytes } from "../mls/identity";

export function crisisResponderFor(
  member: Uint8Array,
  responders: readonly StaffBadge[] | undefined,
  attestationKey: Uint8Array | undefined,
  now: number,
): StaffBadge | undefined {
  return responders?.find((badge) => {
    const key = verifiedKeyWithRole(attestationKey, badge, ["crisis_responder"], now);
    return key !== undefined && equalBytes(key, member);
  });
}
