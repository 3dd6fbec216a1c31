// For the console's screen tests: a StaffConsole stand-in with what the
// panels read, and a state to render. Rendered to markup with
// preact-render-to-string (no DOM in the unit tests; clicks are the
// browser e2e's job).

import type { StaffConsole } from "../console/staff";
import { type ConsoleState, type Conversation, initialState } from "../console/core";
import { ME, bytes } from "./console";

export function staffStub(patch: Record<string, unknown> = {}): StaffConsole {
  return { clientId: bytes(0xcc, 32), activeGroup: undefined, members: () => [], ...patch } as unknown as StaffConsole;
}

export function stateWith(patch: Partial<ConsoleState> = {}): ConsoleState {
  return { ...initialState(ME, true), ...patch };
}

export function conversationOf(patch: Partial<Conversation> = {}): Conversation {
  return { groupId: bytes(1), kind: "chat", title: "#4 · mk · health", lines: [], unread: 0, joined: true, ended: false, names: new Map(), ...patch };
}

/** The text of markup, tags dropped and whitespace squeezed. */
export function textOf(html: string): string {
  return html
    .replace(/<[^>]+>/g, " ")
    .replace(/&amp;/g, "&")
    .replace(/&#39;|&apos;/g, "'")
    .replace(/&quot;/g, '"')
    .replace(/\s+/g, " ")
    .trim();
}
