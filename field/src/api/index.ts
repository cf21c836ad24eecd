// HTTP for the tablet, the twin of sync/client/transport.py: JSON bodies, exponential backoff
// with full jitter for network failures, timeouts, 5xx and 429 (Retry-After honoured); other 4xx
// answers are final (``Refused`` with the server's error body). A 401 triggers one token refresh
// and a retry; a refresh the server refuses as ``device_revoked`` raises ``Revoked``.
// Compression: the browser itself sends Accept-Encoding (Chromium: gzip, deflate, br, zstd) and
// unpacks the answer, so the server answers zstd where the browser accepts it, else gzip.
import type { DeviceRegistered, ErrorBody, TokenPair, UserRead } from "../schema/types";
import { type FieldDB, getMeta, setMeta } from "../store";

/** The server refused the request (a final 4xx); ``body`` is its error body when it sent one. */
export class Refused extends Error {
  constructor(
    readonly status: number,
    readonly body: ErrorBody | null,
  ) {
    super(body?.message ? `HTTP ${status}: ${body.message}` : `HTTP ${status}`);
    this.name = "Refused";
  }
  get code(): string | undefined {
    return this.body?.code;
  }
}

/** The server could not be reached (or kept failing) after every retry. */
export class Unreachable extends Error {
  constructor(message: string) {
    super(message);
    this.name = "Unreachable";
  }
}

/** The tablet has no valid session: sign in again. */
export class LoginRequired extends Error {
  constructor(message = "this tablet is not signed in") {
    super(message);
    this.name = "LoginRequired";
  }
}

/** The server refused this tablet as revoked (lost or replaced): its unsent data stays on it. */
export class Revoked extends Error {
  /** ``message``: the server's words (when, by whom); ``body``: its error body with the details. */
  constructor(message?: string, readonly body?: ErrorBody | null) {
    super(message ?? "this tablet has been revoked by a supervisor");
    this.name = "Revoked";
  }
}

export interface Backoff {
  base: number;
  factor: number;
  cap: number;
  attempts: number;
}

/** Delay (seconds) before retry ``n`` (1-based): uniform in [0, min(cap, base * factor^(n-1))]. */
export function backoffDelay(b: Backoff, attempt: number, random: () => number = Math.random): number {
  return random() * Math.min(b.cap, b.base * b.factor ** (attempt - 1));
}

export const DEFAULT_BACKOFF: Backoff = { base: 0.5, factor: 2, cap: 30, attempts: 6 };

export interface ApiOptions {
  /** Where the API lives; the app is served by the same server, so its origin by default. */
  baseUrl?: string;
  fetch?: typeof fetch;
  backoff?: Backoff;
  sleep?: (seconds: number) => Promise<void>;
  random?: () => number;
  /** Per-request timeout (ms). */
  timeoutMs?: number;
}

export interface ApiStats {
  requests: number;
  retries: number;
  sentBytes: number;
}

const wait = (seconds: number) => new Promise<void>((resolve) => setTimeout(resolve, seconds * 1000));

export class Api {
  readonly baseUrl: string;
  readonly stats: ApiStats = { requests: 0, retries: 0, sentBytes: 0 };
  private readonly fetchImpl: typeof fetch;
  private readonly backoff: Backoff;
  private readonly sleep: (seconds: number) => Promise<void>;
  private readonly random: () => number;
  private readonly timeoutMs: number;

  constructor(
    readonly db: FieldDB,
    options: ApiOptions = {},
  ) {
    this.baseUrl = (options.baseUrl ?? globalThis.location?.origin ?? "").replace(/\/$/, "");
    this.fetchImpl = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.sleep = options.sleep ?? wait;
    this.random = options.random ?? Math.random;
    this.timeoutMs = options.timeoutMs ?? 60_000;
  }

  url(path: string): string {
    return path.startsWith("http") ? path : this.baseUrl + path;
  }

  /** The current access token (for tus uploads, which make their own requests). */
  token(): Promise<string | undefined> {
    return getMeta(this.db, "access_token");
  }

  private async once(method: string, path: string, body: string | undefined, token: string | undefined) {
    const headers: Record<string, string> = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (token) headers.Authorization = `Bearer ${token}`;
    const signal = AbortSignal.timeout(this.timeoutMs);
    return this.fetchImpl(this.url(path), { method, body, headers, signal, cache: "no-store" });
  }

  /**
   * Send a request and decode the JSON answer; retries as described at the top of this module.
   * ``authenticated``: send the access token (and refresh it once on a 401).
   */
  async request<T>(method: string, path: string, payload?: unknown, authenticated = true): Promise<T> {
    const body = payload === undefined ? undefined : JSON.stringify(payload);
    let refreshed = false;
    for (let attempt = 1; ; attempt++) {
      const token = authenticated ? await this.token() : undefined;
      if (authenticated && !token) throw new LoginRequired();
      let response: Response;
      try {
        response = await this.once(method, path, body, token);
      } catch (exc) {
        if (attempt >= this.backoff.attempts) throw new Unreachable(`${path}: ${String(exc)}`);
        this.stats.retries += 1;
        await this.sleep(backoffDelay(this.backoff, attempt, this.random));
        continue;
      }
      this.stats.requests += 1;
      this.stats.sentBytes += body?.length ?? 0;
      const status = response.status;
      if (status === 401 && authenticated && !refreshed) {
        refreshed = true;
        if (await this.refresh()) continue;
        throw new LoginRequired("the session has expired: sign in again");
      }
      if (status === 429 || status >= 500) {
        if (attempt >= this.backoff.attempts) throw new Unreachable(`${path}: HTTP ${status} after ${attempt} attempts`);
        this.stats.retries += 1;
        const after = response.headers.get("retry-after") ?? "";
        await this.sleep(/^\d+$/.test(after) ? Number(after) : backoffDelay(this.backoff, attempt, this.random));
        continue;
      }
      const text = await response.text();
      if (status >= 400) {
        let detail: ErrorBody | null = null;
        try {
          detail = text ? (JSON.parse(text) as ErrorBody) : null;
        } catch {
          detail = null;
        }
        if (status === 401 && detail?.code === "device_revoked") throw await this.markRevoked(detail);
        throw new Refused(status, detail);
      }
      return (text ? JSON.parse(text) : undefined) as T;
    }
  }

  post<T>(path: string, payload: unknown, authenticated = true): Promise<T> {
    return this.request<T>("POST", path, payload, authenticated);
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>("GET", path);
  }

  private async markRevoked(detail: ErrorBody): Promise<Revoked> {
    await setMeta(this.db, "revoked", true);
    await setMeta(this.db, "access_token", undefined);
    return new Revoked(detail.message, detail);
  }

  private async saveTokens(tokens: TokenPair): Promise<void> {
    await this.db.transaction("rw", this.db.meta, async () => {
      await setMeta(this.db, "access_token", tokens.access_token);
      await setMeta(this.db, "refresh_token", tokens.refresh_token);
      if (tokens.user) {
        await setMeta(this.db, "user_id", tokens.user.id);
        await setMeta(this.db, "display_name", tokens.user.display_name);
      }
    });
  }

  /** Exchange the refresh token for new tokens; false when there is none or the server refuses it. */
  async refresh(): Promise<boolean> {
    const refreshToken = await getMeta(this.db, "refresh_token");
    if (!refreshToken) return false;
    try {
      await this.saveTokens(await this.post<TokenPair>("/auth/refresh", { refresh_token: refreshToken }, false));
      return true;
    } catch (exc) {
      if (exc instanceof Refused) return false;
      throw exc;
    }
  }

  /**
   * Sign in. The first time on this tablet (no device credential yet) it registers itself as a
   * device and keeps the credential; every login then proves it holds that credential, so the
   * tokens are bound to this tablet and a supervisor can revoke it alone.
   */
  async login(username: string, password: string, deviceName = "tablet"): Promise<UserRead | undefined> {
    const held = await getMeta(this.db, "username");
    if (held && held !== username) {
      // another worker's device credential: it cannot sign this worker in (sign out first)
      throw new Refused(409, {
        status: 409,
        code: "other_user",
        message: `this tablet is signed in for ${held}`,
        errors: [{ path: "$.username", reason: "sign the other worker out first" }],
      });
    }
    let deviceId = await getMeta(this.db, "device_id");
    if (!deviceId) {
      const plain = await this.post<TokenPair>("/auth/login", { username, password }, false);
      await setMeta(this.db, "access_token", plain.access_token);
      const registered = await this.post<DeviceRegistered>("/devices/", { name: deviceName });
      await this.db.transaction("rw", this.db.meta, async () => {
        await setMeta(this.db, "device_id", registered.device_id);
        await setMeta(this.db, "device_secret", registered.device_secret);
        await setMeta(this.db, "username", username);
        await setMeta(this.db, "access_token", undefined);
      });
      deviceId = registered.device_id;
    }
    const tokens = await this.post<TokenPair>(
      "/auth/login",
      { username, password, device_id: deviceId, device_secret: await getMeta(this.db, "device_secret") },
      false,
    );
    await this.saveTokens(tokens);
    await setMeta(this.db, "revoked", undefined);
    return tokens.user ?? undefined;
  }

  /** End the session on the server (best effort: the tablet forgets its tokens either way). */
  async logout(): Promise<void> {
    const refreshToken = await getMeta(this.db, "refresh_token");
    if (!refreshToken) return;
    try {
      await this.post("/auth/logout", { refresh_token: refreshToken }, false);
    } catch (exc) {
      if (!(exc instanceof Refused) && !(exc instanceof Unreachable)) throw exc;
    }
  }
}
