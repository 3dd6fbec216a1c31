import { readFileSync } from "node:fs";
import { resolve } from "node:path";

import { describe, expect, it } from "vitest";

import { escalationTranscript, signEscalation, verifyEscalation } from "./escalation";
import type { Category, Severity } from "./generated/types";

// The golden vector written by protocol/tests/escalation.rs.
const vector = JSON.parse(
  readFileSync(resolve(__dirname, "../../../protocol/tests/vectors/escalation.json"), "utf8"),
) as Record<string, string | number>;

const hex = (k: string): Uint8Array => Uint8Array.from(Buffer.from(vector[k] as string, "hex"));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

describe("escalation signatures (shared vector with Rust)", () => {
  const severity = vector.severity as Severity;
  const category = vector.category as Category;
  const issuedAt = vector.issued_at as number;

  it("rebuilds the transcript byte for byte", () => {
    expect(toHex(escalationTranscript(hex("group_id"), severity, category, issuedAt))).toBe(vector.transcript);
  });

  it("signs as the Rust client does, and verifies", () => {
    const signed = signEscalation(hex("session_secret_seed"), hex("group_id"), severity, category, issuedAt);
    expect(toHex(signed.signature)).toBe(vector.signature);
    expect(verifyEscalation(signed, hex("session_public_key"))).toBe(true);
  });

  it("refuses a changed request, another key or a malformed signature", () => {
    const signed = signEscalation(hex("session_secret_seed"), hex("group_id"), severity, category, issuedAt);
    expect(verifyEscalation({ ...signed, severity: "high" }, hex("session_public_key"))).toBe(false);
    expect(verifyEscalation({ ...signed, issued_at: issuedAt + 1 }, hex("session_public_key"))).toBe(false);
    expect(verifyEscalation(signed, new Uint8Array(32).fill(9))).toBe(false);
    expect(verifyEscalation({ ...signed, signature: signed.signature.slice(0, 10) }, hex("session_public_key"))).toBe(false);
  });
});
