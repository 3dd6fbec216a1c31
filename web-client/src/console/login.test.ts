import { afterEach, describe, expect, it, vi } from "vitest";

import { BUSY_RETRY_MS, LoginError, login, logout } from "./login";

afterEach(() => vi.unstubAllGlobals());

function serve(status: number, body: unknown, headers: Record<string, string> = {}) {
  const calls: Array<{ url: string; init: RequestInit }> = [];
  vi.stubGlobal("fetch", async (url: string, init: RequestInit) => {
    calls.push({ url, init });
    return new Response(typeof body === "string" ? body : JSON.stringify(body), { status, headers });
  });
  return calls;
}

describe("login", () => {
  it("posts the credentials (the code only when given), with no cookies and no cache", async () => {
    const calls = serve(200, { token: "t", expires_at: 1, account_id: 2, role: "counsellor", display_name: "Ana", languages: [], max_concurrent_chats: 3 });
    expect((await login("ana", "pw")).token).toBe("t");
    expect(calls[0]?.url).toBe("/v1/staff/login");
    expect(calls[0]?.init).toMatchObject({ method: "POST", credentials: "omit", cache: "no-store" });
    expect(JSON.parse(calls[0]?.init.body as string)).toEqual({ username: "ana", password: "pw" });
    await login("ana", "pw", "123456");
    expect(JSON.parse(calls[1]?.init.body as string)).toEqual({ username: "ana", password: "pw", totp: "123456" });
  });

  it("a refusal carries the server's code and Retry-After", async () => {
    serve(429, { error: "too_many_attempts" }, { "Retry-After": "30" });
    const e = await login("ana", "pw").catch((e: unknown) => e);
    expect(e).toBeInstanceOf(LoginError);
    expect(e).toMatchObject({ code: "too_many_attempts", retryAfterSecs: 30 });
  });

  it("a busy server is asked again after its Retry-After, then the answer counts", async () => {
    let calls = 0;
    vi.stubGlobal("fetch", async () => {
      calls += 1;
      return calls < 3
        ? new Response(JSON.stringify({ error: "busy" }), { status: 503, headers: { "Retry-After": "1" } })
        : new Response(JSON.stringify({ token: "t" }), { status: 200 });
    });
    const waits: number[] = [];
    const answer = await login("ana", "pw", undefined, async (ms) => {
      waits.push(ms);
    });
    expect(answer.token).toBe("t");
    expect(waits).toEqual([1000, 1000]);
  });

  it("a server that stays busy is reported as busy, not tried for ever", async () => {
    serve(503, { error: "busy" }, { "Retry-After": "8" });
    const waits: number[] = [];
    const e = await login("ana", "pw", undefined, async (ms) => {
      waits.push(ms);
    }).catch((e: unknown) => e);
    expect(e).toMatchObject({ code: "busy" });
    expect(waits.length).toBeGreaterThan(0);
    expect(waits.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(BUSY_RETRY_MS);
  });

  it("a refusal that is not JSON keeps the status", async () => {
    serve(502, "bad gateway");
    await expect(login("ana", "pw")).rejects.toMatchObject({ code: "http_502", retryAfterSecs: undefined });
  });
});

describe("logout", () => {
  it("sends the token and never throws", async () => {
    const calls = serve(204, "");
    await logout("tok");
    expect(calls[0]).toMatchObject({ url: "/v1/staff/logout", init: { method: "POST", headers: { Authorization: "Bearer tok" } } });
    vi.stubGlobal("fetch", async () => {
      throw new Error("offline");
    });
    await expect(logout("tok")).resolves.toBeUndefined();
  });
});
