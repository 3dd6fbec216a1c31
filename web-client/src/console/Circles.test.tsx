import { render } from "preact-render-to-string";
import { afterEach, describe, expect, it, vi } from "vitest";

import type { CircleInfo, InvitationState } from "../protocol";
import { bytes } from "../testing/console";
import { staffStub, textOf } from "../testing/screens";
import type { CircleView } from "./core";
import { CirclesPanel, invitationLink } from "./Circles";

afterEach(() => vi.unstubAllGlobals());

const info: CircleInfo = { circle_id: 3, group_id: bytes(3), name: "Evenings", language: "sq", topic: "just_talk", auto_approve: false, moderator: true, members: 2, max_members: 12 };
const invitation = (id: number, patch: Partial<InvitationState> = {}): InvitationState => ({ invitation_id: id, circle_id: 3, expires_at: 0, max_uses: 5, uses: 0, revoked: false, ...patch });

describe("circles panel", () => {
  it("the invitation link holds no code: the visitor types it", () => {
    expect(invitationLink("https://chat.example")).toBe("https://chat.example/#circle");
  });

  it("shows live invitations (code, link, QR), who asks to join and the members", () => {
    vi.stubGlobal("location", { origin: "https://chat.example" });
    const view: CircleView = {
      info,
      invitations: [invitation(1, { code: "ABCDEFGHJKMN" }), invitation(2, { revoked: true, code: "ZZZZZZZZZZZZ" }), invitation(3)],
      requests: [{ request_id: 9, circle_id: 3, client_id: bytes(9, 32), display_name: "Lule", key_package: bytes(1), requested_at: 0 }],
      members: [
        { key: "aa", name: "Drita", muted: true },
        { key: "bb", name: "Vera", muted: false },
      ],
    };
    const html = render(<CirclesPanel staff={staffStub()} circles={[view]} languages={["sq", "mk"]} act={() => {}} />);
    const text = textOf(html);
    expect(text).toContain("Evenings (Albanian · just_talk)");
    expect(text).toContain("Code: ABCD-EFGH-JKMN");
    expect(text).toContain("https://chat.example/#circle");
    expect(text).not.toContain("#circle=");
    expect(text).not.toContain("ZZZZ");
    // Two live invitations (one without its code any more), each revocable.
    expect(text.match(/Revoke/g)).toHaveLength(2);
    expect(html.match(/aria-label="Invitation QR code"/g)).toHaveLength(1);
    expect(text).toContain("Let Lule in");
    expect(text).toContain("Drita (muted) Unmute Drita");
    expect(text).toContain("Mute Vera");
    expect(text).not.toContain("Nobody is waiting.");
  });

  it("offers the languages I speak for a new circle", () => {
    const html = render(<CirclesPanel staff={staffStub()} circles={[]} languages={["mk", "en"]} act={() => {}} />);
    expect([...html.matchAll(/<option[^>]*value="(\w+)"/g)].map((m) => m[1])).toEqual(["mk", "en"]);
  });
});
