import { describe, expect, it } from "vitest";

import { ServerError } from "../net/connection";
import { handoverQuestion } from "./shift";

const refusal = (code: "handover_required" | "forbidden") =>
  new ServerError({ type: "error", id: 1, code, message: "you have 1 open chats; clock out with handover" } as never);

describe("clocking out after a reload", () => {
  it("offers the hand-over the server asks for, once", () => {
    expect(handoverQuestion(refusal("handover_required"), "clocked_out", false)).toMatch(/1 open chats[\s\S]*Hand your open chats back/);
    expect(handoverQuestion(refusal("handover_required"), "clocked_out", true)).toBeUndefined();
  });
  it("leaves other refusals and states alone", () => {
    expect(handoverQuestion(refusal("forbidden"), "clocked_out", false)).toBeUndefined();
    expect(handoverQuestion(refusal("handover_required"), "on_break", false)).toBeUndefined();
    expect(handoverQuestion(new Error("x"), "clocked_out", false)).toBeUndefined();
  });
});
