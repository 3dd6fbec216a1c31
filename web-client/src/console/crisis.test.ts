// Escalation to the crisis line from both ends (the counsellor who asks,
// the responder on duty), against the fake connection: signatures are real
// (ed25519 badges and requests), the server is scripted.

import { ed25519 } from "@noble/curves/ed25519.js";
import { describe, expect, it } from "vitest";

import { type EscalationEntry, type StaffBadge, type StaffRole, attestationTranscript, signEscalation } from "../protocol";
import { FakeConsole, ME, bytes, ticket } from "../testing/console";
import { hex } from "../util/hex";
import { CrisisDesk } from "./crisis";

const serverSecret = ed25519.utils.randomSecretKey();
const serverKey = ed25519.getPublicKey(serverSecret);
const now = () => Math.floor(Date.now() / 1000);
const G = bytes(7);

function badge(key: Uint8Array, role: StaffRole, name: string): StaffBadge {
  const expires = now() + 3600;
  return { display_name: name, role, signature_key: key, expires_at: expires, attestation: ed25519.sign(attestationTranscript(key, role, name, expires), serverSecret) };
}

const counsellorSecret = ed25519.utils.randomSecretKey();
const counsellor = badge(ed25519.getPublicKey(counsellorSecret), "counsellor", "Ana");

function entry(patch: Partial<EscalationEntry> = {}): EscalationEntry {
  return {
    escalation_id: 42,
    status: "open",
    request: signEscalation(counsellorSecret, G, "critical", "trafficking", now()),
    language: "mk",
    counsellor,
    waited_secs: 5,
    ...patch,
  };
}

function responder() {
  const fake = new FakeConsole({ ...ME, role: "crisis_responder", display_name: "Rina" });
  fake.core.attestationKey = serverKey;
  return { fake, crisis: new CrisisDesk(fake.core) };
}

describe("a crisis responder", () => {
  it("going on duty fetches the queue, each entry checked; off duty empties it", async () => {
    const { fake, crisis } = responder();
    const forged = entry({ escalation_id: 43, request: signEscalation(ed25519.utils.randomSecretKey(), G, "high", "violence", now()) });
    fake.answer("set_duty", { kind: "duty", state: "on_duty" } as never).answer("escalation_queue", { kind: "escalations", escalations: [entry(), forged] } as never);
    await crisis.setDuty("on_duty");
    expect(fake.ops).toEqual(["set_duty", "escalation_queue"]);
    expect(fake.core.state.duty).toBe("on_duty");
    expect(fake.core.state.escalations.map((q) => [q.entry.escalation_id, q.check])).toEqual([
      [42, "verified"],
      [43, "bad_signature"],
    ]);
    fake.answer("set_duty", { kind: "duty", state: "off_duty" } as never);
    await crisis.setDuty("off_duty");
    expect(fake.core.state.escalations).toEqual([]);
  });

  it("a raised escalation alerts and joins the queue; one taken by someone else leaves it", () => {
    const { fake, crisis } = responder();
    fake.core.state.duty = "on_duty";
    crisis.push({ type: "escalation_raised", escalation: entry() });
    expect(fake.alerts).toEqual(["Escalation waiting (Critical)"]);
    expect(fake.core.state.escalations).toHaveLength(1);
    const other = badge(bytes(0x55, 32), "crisis_responder", "Mira");
    crisis.push({ type: "escalation_changed", escalation: entry({ status: "accepted", responder: other }) });
    expect(fake.core.state.escalations).toEqual([]);
  });

  it("never accepts an escalation whose signature does not verify", async () => {
    const { fake, crisis } = responder();
    fake.core.state.duty = "on_duty";
    crisis.push({ type: "escalation_raised", escalation: entry({ request: signEscalation(ed25519.utils.randomSecretKey(), G, "critical", "trafficking", now()) }) });
    await expect(crisis.acceptEscalation(42)).rejects.toThrow("does not verify");
    expect(fake.ops).toEqual([]);
  });

  it("accepting opens the chat, waiting for the counsellor to add me", async () => {
    const { fake, crisis } = responder();
    fake.core.state.duty = "on_duty";
    crisis.push({ type: "escalation_raised", escalation: entry() });
    const me = badge(fake.clientId, "crisis_responder", "Rina");
    fake.answer("accept_escalation", { kind: "escalation_accepted", escalation: entry({ status: "accepted", responder: me }) } as never);
    const c = await crisis.acceptEscalation(42);
    expect(fake.requests).toEqual([{ op: "accept_escalation", escalation_id: 42 }]);
    expect(c).toMatchObject({ kind: "chat", title: "Crisis · Trafficking · Macedonian", joined: false });
    expect(c.names.get(hex(counsellor.signature_key))).toBe("Ana");
    expect(fake.lines(G)[0]).toBe("You accepted. Ana is adding you to the chat…");
    // Mine now: it stays in my list as accepted.
    expect(fake.core.state.escalations.map((q) => q.entry.status)).toEqual(["accepted"]);
  });
});

describe("a counsellor", () => {
  it("escalates with a request signed by this session's key, and the chat shows its status", async () => {
    const fake = new FakeConsole();
    const crisis = new CrisisDesk(fake.core);
    fake.core.conversation(G, "chat", ticket(4));
    fake.answer("escalate", { kind: "escalated", escalation: entry() } as never);
    await crisis.escalate(G, "critical", "trafficking");
    expect(fake.requests[0]).toMatchObject({ op: "escalate", escalation: { group_id: G, severity: "critical", category: "trafficking" } });
    expect(fake.core.find(G)?.escalation?.escalation_id).toBe(42);
    expect(fake.lines(G)).toEqual(["Escalation open (Critical · Trafficking): waiting for a crisis responder."]);
    // A counsellor's console never lists escalations.
    expect(fake.core.state.escalations).toEqual([]);
  });

  it("resolving needs an escalation on the chat", async () => {
    const fake = new FakeConsole();
    const crisis = new CrisisDesk(fake.core);
    fake.core.conversation(G, "chat", ticket(4));
    await expect(crisis.resolveEscalation(G, "resolved")).rejects.toThrow("no escalation");
    expect(fake.requests).toEqual([]);
  });

  it("adds only a responder whose badge verifies", async () => {
    const fake = new FakeConsole();
    fake.core.attestationKey = serverKey;
    const crisis = new CrisisDesk(fake.core);
    fake.groups.add(hex(G));
    fake.core.conversation(G, "chat", ticket(4));
    const notResponder = badge(bytes(0x66, 32), "counsellor", "Eve");
    crisis.push({ type: "add_responder", escalation_id: 42, group_id: G, responder: notResponder, key_package: bytes(1, 40) });
    await fake.settle();
    expect(fake.mlsCalls).toEqual([]);
    expect(fake.lines(G)).toEqual(["A crisis responder was not added: their badge does not verify as a crisis responder."]);
    const rina = badge(bytes(0x77, 32), "crisis_responder", "Rina");
    crisis.push({ type: "add_responder", escalation_id: 42, group_id: G, responder: rina, key_package: bytes(2, 40) });
    await fake.settle();
    expect(fake.mlsCalls).toEqual([{ op: "commitAdd", group: hex(G), keyPackages: [{ kp: hex(bytes(2, 40)) }] }]);
    expect(fake.lines(G).at(-1)).toBe("Rina (crisis responder) was added to the chat.");
  });

  it("with nobody accepting, the numbers to give the visitor", () => {
    const fake = new FakeConsole();
    const crisis = new CrisisDesk(fake.core);
    crisis.push({ type: "escalation_fallback", group_id: G, help: { crisis_lines: [{ name: "SOS", number: "0800 11111", hours: "24/7" }] } });
    expect(fake.core.state.problem).toBe("No crisis responder has accepted yet. Give the visitor these numbers: 0800 11111 (SOS, 24/7).");
  });
});
