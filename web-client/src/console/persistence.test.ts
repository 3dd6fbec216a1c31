// The console's state in the staff vault, with a fake vault: what is
// written, what comes back after a reload, the bounds on saved history,
// and another login taking the vault stopping this console.

import { describe, expect, it } from "vitest";

import { CLOSE } from "../protocol";
import { FakeConsole, bytes, ticket } from "../testing/console";
import { hex } from "../util/hex";
import type { StaffLine } from "./core";
import { MAX_SAVED_HISTORY_BYTES, MOVED_NOTICE, Persistence, type SavedConsole, type SavedGroup, savedIdentity, savedLines } from "./persistence";
import { type Vault, VaultError, decodeItem, encodeItem, groupSlot } from "./vault";

class FakeVault {
  readonly items = new Map<string, Uint8Array>();
  readonly puts: Array<[string, unknown]> = [];
  readonly removed: string[] = [];
  moved = false;
  closed = false;
  async put(slot: string, value: unknown): Promise<void> {
    if (this.moved) throw new VaultError("vault_moved", 409);
    this.puts.push([slot, value]);
    this.items.set(slot, encodeItem(value));
  }
  async remove(slot: string): Promise<void> {
    if (this.moved) throw new VaultError("vault_moved", 409);
    this.removed.push(slot);
    this.items.delete(slot);
  }
  forgetItems(): void {
    this.items.clear();
  }
  close(): void {
    this.closed = true;
  }
}

function setup() {
  const fake = new FakeConsole();
  const vault = new FakeVault();
  const persistence = new Persistence(fake.core, vault as unknown as Vault);
  fake.core.store = persistence;
  return { fake, vault, persistence };
}

const G = bytes(1);

describe("saving", () => {
  it("a group is saved with its conversation; an ended one is removed", async () => {
    const { fake, vault, persistence } = setup();
    fake.groups.add(hex(G));
    const c = fake.core.conversation(G, "chat", ticket(4));
    c.names.set("aa", "Visitor");
    fake.core.system(c, "hello");
    await persistence.saveGroup(hex(G));
    const [slot, item] = vault.puts[0] as [string, SavedGroup];
    expect(slot).toBe(groupSlot(G));
    expect(item.conversation).toMatchObject({ kind: "chat", title: "health", joined: true, names: [["aa", "Visitor"]] });
    expect(item.conversation?.lines.map((l) => l.text)).toEqual(["hello"]);
    fake.core.ended(G, "Closed.");
    await fake.settle();
    expect(vault.removed).toEqual([groupSlot(G)]);
  });

  it("before an ack: the changed groups, the identity after a Welcome, then the cursor", async () => {
    const { fake, vault, persistence } = setup();
    fake.groups.add(hex(G));
    persistence.noteEvent({ kind: "joined", groupId: G, epoch: 1, members: [] });
    await persistence.saveBeforeAck(17);
    expect(vault.puts.map(([slot]) => slot)).toEqual([groupSlot(G), "identity", "console"]);
    expect(vault.puts.at(-1)?.[1]).toEqual({ v: 1, cursor: 17 });
    // Nothing changed since: only the cursor.
    await persistence.saveBeforeAck(18);
    expect(vault.puts.slice(3).map(([slot]) => slot)).toEqual(["console"]);
  });

  it("the shift is kept with the cursor", async () => {
    const { vault, persistence } = setup();
    persistence.saveShift("available");
    await new Promise((r) => setTimeout(r, 0));
    expect(vault.puts).toEqual([["console", { v: 1, cursor: 0, shift: "available" }]]);
  });

  it("history is bounded by lines and bytes, newest kept", () => {
    const big = "x".repeat(10_000);
    const lines: StaffLine[] = Array.from({ length: 60 }, (_, i) => ({ kind: "system", id: i, text: big }));
    const kept = savedLines(lines);
    expect(kept.reduce((n, l) => n + l.text.length * 3 + 64, 0)).toBeLessThanOrEqual(MAX_SAVED_HISTORY_BYTES);
    expect(kept.at(-1)?.id).toBe(59);
    expect(kept.length).toBeLessThan(60);
  });
});

describe("another login took the vault", () => {
  it("stops this console at once, says so, and saves nothing more", async () => {
    const { fake, vault, persistence } = setup();
    fake.groups.add(hex(G));
    vault.moved = true;
    await expect(persistence.saveGroup(hex(G))).rejects.toThrow();
    expect(fake.closed).toEqual([CLOSE.REPLACED]);
    expect(fake.core.loggedOut).toBe(true);
    expect(fake.core.state).toMatchObject({ problem: MOVED_NOTICE, connected: false });
    await expect(persistence.saveBeforeAck(5)).rejects.toThrow("moved");
    persistence.saveShift("available");
    expect(vault.puts).toEqual([]);
    // Told once.
    persistence.stopMoved();
    expect(fake.closed).toEqual([CLOSE.REPLACED]);
  });
});

describe("after a reload", () => {
  it("brings back groups, conversations, line ids, cursor and shift; skips what does not decode", () => {
    const { fake, vault, persistence } = setup();
    const saved: SavedGroup = {
      v: 1,
      group_id: G,
      state: G,
      conversation: { kind: "chat", title: "#4", lines: [{ kind: "system", id: 41, text: "hi" }], joined: true, names: [["aa", "Visitor"]] },
    };
    vault.items.set(groupSlot(G), encodeItem(saved));
    vault.items.set("g-broken", new Uint8Array([0xc1]));
    vault.items.set("console", encodeItem({ v: 1, cursor: 12, shift: "on_break" } satisfies SavedConsole));
    expect(persistence.restoreGroups()).toBe(12);
    expect(persistence.saved).toEqual({ v: 1, cursor: 12, shift: "on_break" });
    const c = fake.core.find(G);
    expect(c).toMatchObject({ kind: "chat", title: "#4", joined: true, unread: 0, ended: false });
    expect(c?.names.get("aa")).toBe("Visitor");
    expect(fake.groups.has(hex(G))).toBe(true);
    expect(fake.core.lineId()).toBe(42);
  });

  it("an identity is used only if it is a 32-byte secret", () => {
    const vault = new FakeVault();
    expect(savedIdentity(vault as unknown as Vault)).toBeUndefined();
    vault.items.set("identity", encodeItem({ v: 1, secret: new Uint8Array(31), key_packages: [] }));
    expect(savedIdentity(vault as unknown as Vault)).toBeUndefined();
    vault.items.set("identity", encodeItem({ v: 1, secret: new Uint8Array(32), key_packages: [] }));
    expect(decodeItem<{ v: number }>(vault.items.get("identity") as Uint8Array).v).toBe(1);
    expect(savedIdentity(vault as unknown as Vault)?.secret).toHaveLength(32);
  });
});
