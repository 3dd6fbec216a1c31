// The staff session over HTTPS: log in (password and, if set, a TOTP code)
// for a session token, and log out (the server ends the session and closes
// its socket with CLOSE.SESSION_ENDED).

export interface LoginAnswer {
  token: string;
  expires_at: number;
  account_id: number;
  role: string;
  display_name: string;
  languages: string[];
  max_concurrent_chats: number;
}

export class LoginError extends Error {
  override readonly name = "LoginError";
  constructor(
    readonly code: string,
    readonly retryAfterSecs?: number,
  ) {
    super(code);
  }
}

/** How long `login` keeps trying while the server answers 503 `busy`. */
export const BUSY_RETRY_MS = 20_000;

/**
 * `POST /v1/staff/login`. Errors carry the server's code (`invalid_credentials`, `too_many_attempts`, …).
 *
 * A 503 `busy` is tried again after its Retry-After, for up to `BUSY_RETRY_MS`:
 * the server checks a few passwords at a time per address, and a team behind
 * one office router logs in together at the start of a shift.
 */
export async function login(
  username: string,
  password: string,
  totp?: string,
  sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
): Promise<LoginAnswer> {
  let waitedMs = 0;
  for (;;) {
    try {
      return await loginOnce(username, password, totp);
    } catch (e) {
      if (!(e instanceof LoginError) || e.code !== "busy") throw e;
      const waitMs = (e.retryAfterSecs ?? 1) * 1000;
      if (waitedMs + waitMs > BUSY_RETRY_MS) throw e;
      waitedMs += waitMs;
      await sleep(waitMs);
    }
  }
}

async function loginOnce(username: string, password: string, totp?: string): Promise<LoginAnswer> {
  const body: Record<string, string> = { username, password };
  if (totp) body.totp = totp;
  const res = await fetch("/v1/staff/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
    credentials: "omit",
    cache: "no-store",
  });
  if (!res.ok) {
    let code = `http_${res.status}`;
    try {
      code = ((await res.json()) as { error?: string }).error ?? code;
    } catch {
      // not JSON: keep the status
    }
    const retry = Number(res.headers.get("Retry-After"));
    throw new LoginError(code, Number.isFinite(retry) && retry > 0 ? retry : undefined);
  }
  return (await res.json()) as LoginAnswer;
}

/** `POST /v1/staff/logout`: ends the session (the socket closes with CLOSE.SESSION_ENDED). */
export async function logout(token: string): Promise<void> {
  await fetch("/v1/staff/logout", {
    method: "POST",
    headers: { Authorization: `Bearer ${token}` },
    credentials: "omit",
    cache: "no-store",
  }).catch(() => undefined);
}
