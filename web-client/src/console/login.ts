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

/** `POST /v1/staff/login`. Errors carry the server's code (`invalid_credentials`, `too_many_attempts`, …). */
export async function login(username: string, password: string, totp?: string): Promise<LoginAnswer> {
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
