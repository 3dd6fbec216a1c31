import { afterEach, describe, expect, it, vi } from "vitest";

import { LoginError, login, logout } from "./login";

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
