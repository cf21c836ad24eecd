// Sign-in. The first sign-in on a tablet registers it as the worker's device (Api.login); the
// first sync then brings the day's visits. ``username`` is fixed when the session only expired.
import { useState } from "preact/hooks";
import { Refused, Revoked, Unreachable } from "../api";
import type { FieldApp } from "../app";
import { MESSAGES } from "../sync";
import { pick, t } from "./i18n";

function deviceName(): string {
  const ua = globalThis.navigator?.userAgent ?? "";
  const model = /\(([^)]+)\)/.exec(ua)?.[1]?.split(";")[0] ?? "tablet";
  return `平板 ${model}`.slice(0, 100);
}

function loginError(exc: unknown): string {
  if (exc instanceof Revoked) return pick(MESSAGES.revoked);
  if (exc instanceof Refused) {
    if (exc.code === "device_revoked") return pick(MESSAGES.revoked);
    if (exc.status === 401 || exc.status === 403) return t("bad_login");
    return exc.body?.message ?? exc.message;
  }
  if (exc instanceof Unreachable || exc instanceof TypeError) return t("no_server");
  return String(exc);
}

export function SignIn({ app, username }: { app: FieldApp; username: string | null }) {
  const [user, setUser] = useState(username ?? "");
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await app.api.login(user.trim(), password, deviceName());
      setPassword("");
      void app.engine.sync();
    } catch (exc) {
      setError(loginError(exc));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="signin">
      <form class="card" onSubmit={submit} data-testid="signin">
        <h1>{t("sign_in")}</h1>
        <p class="hint">{t("sign_in_hint")}</p>
        <label>
          {t("username")}
          <input
            name="username"
            autocomplete="username"
            autocapitalize="off"
            value={user}
            disabled={Boolean(username)}
            onInput={(e) => setUser(e.currentTarget.value)}
            required
          />
        </label>
        <label>
          {t("password")}
          <input
            name="password"
            type="password"
            autocomplete="current-password"
            value={password}
            onInput={(e) => setPassword(e.currentTarget.value)}
            required
          />
        </label>
        {error && (
          <p class="error" role="alert" data-testid="signin-error">
            {error}
          </p>
        )}
        <button class="primary big" type="submit" disabled={busy}>
          {busy ? t("signing_in") : t("sign_in")}
        </button>
      </form>
    </main>
  );
}
