import { createHash } from "node:crypto";

import { encode } from "@msgpack/msgpack";
import { describe, expect, it } from "vitest";

import { decodeClientFrame, decodeServerFrame, encodeClientFrame, encodeServerFrame } from "./codec";
import { leadingZeroBits, powDigest, powSolves, solvePow } from "./intake";

describe("proof of work (intake.rs)", () => {
  const clientId = new Uint8Array(32).fill(0xa1);
  const puzzle = { challenge: new Uint8Array(32).fill(7), difficulty_bits: 10 };

  it("counts leading zero bits across bytes", () => {
    expect(leadingZeroBits(Uint8Array.of(0x80))).toBe(0);
    expect(leadingZeroBits(Uint8Array.of(0x00, 0x10))).toBe(11);
    expect(leadingZeroBits(Uint8Array.of(0, 0))).toBe(16);
    expect(leadingZeroBits(Uint8Array.of(0x01))).toBe(7);
  });

  it("hashes domain ‖ challenge ‖ client id ‖ nonce", () => {
    const nonce = Uint8Array.of(1, 2, 3);
    const expected = createHash("sha256")
      .update("parasol/v1/pow")
      .update(puzzle.challenge)
      .update(clientId)
      .update(nonce)
      .digest();
    expect(powDigest(puzzle.challenge, clientId, nonce)).toEqual(new Uint8Array(expected));
  });

  it("solves a puzzle with an 8-byte counter nonce that verifies", () => {
    const nonce = solvePow(puzzle, clientId);
    expect(nonce).toBeDefined();
    expect(nonce!.length).toBe(8);
    expect(powSolves(puzzle, clientId, nonce!)).toBe(true);
    expect(leadingZeroBits(powDigest(puzzle.challenge, clientId, nonce!))).toBeGreaterThanOrEqual(10);
    expect(powSolves(puzzle, clientId, new Uint8Array(17))).toBe(false);
    expect(solvePow({ ...puzzle, difficulty_bits: 200 }, clientId, 50)).toBeUndefined();
  });
});

describe("intake frames", () => {
  it("leaves out an empty resume key-package list and a zero handed_over, as serde does", () => {
    const withEmpty = encodeClientFrame({ v: 1, id: 1, req: { op: "resume_ticket", resume_secret: new Uint8Array(16), key_packages: [] } });
    const without = encodeClientFrame({ v: 1, id: 1, req: { op: "resume_ticket", resume_secret: new Uint8Array(16) } });
    expect(withEmpty).toEqual(without);
    const explicitEmpty = encode({ v: 1, id: 1, req: { op: "resume_ticket", resume_secret: new Uint8Array(16), key_packages: [] } });
    expect(decodeClientFrame(explicitEmpty)).toEqual({ ok: true, frame: { v: 1, id: 1, req: { op: "resume_ticket", resume_secret: new Uint8Array(16) } } });

    const zero = encodeServerFrame({ v: 1, msg: { type: "response", id: 2, result: { kind: "shift", state: "available", active_chats: 1, handed_over: 0 } } });
    expect(decodeServerFrame(zero)).toEqual({
      ok: true,
      frame: { v: 1, msg: { type: "response", id: 2, result: { kind: "shift", state: "available", active_chats: 1 } } },
    });
  });

  it("rejects a weekday or difficulty that does not fit in a u8, and unknown roles and states", () => {
    const badPow = encode({ v: 1, msg: { type: "error", code: "pow_required", message: "", pow: { challenge: new Uint8Array(1), difficulty_bits: 256 } } });
    expect(decodeServerFrame(badPow).ok).toBe(false);
    const badge = { display_name: "A", role: "wizard", signature_key: new Uint8Array(32), expires_at: 1, attestation: new Uint8Array(64) };
    const ticket = { ticket_id: 1, status: { state: "in_chat", group_id: new Uint8Array(1), counsellor: badge }, resume_grace_secs: 1 };
    expect(decodeServerFrame(encode({ v: 1, msg: { type: "ticket_update", ticket } })).ok).toBe(false);
    const waiting = { ticket_id: 1, status: { state: "paused" }, resume_grace_secs: 1 };
    expect(decodeServerFrame(encode({ v: 1, msg: { type: "ticket_update", ticket: waiting } })).ok).toBe(false);
  });
});
