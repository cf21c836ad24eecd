// Under the header on every signed-in screen: what is unsent, how the last sync went (in words),
// the sync button and sign-out, which is refused with the count while anything is unsent.
import { useEffect, useState } from "preact/hooks";
import type { FieldApp } from "../app";
import { clearForSignOut, unsent, UnsentData } from "../store";
import { MESSAGES, type SyncStatus } from "../sync";
import { useLive } from "./hooks";
import { pick, t } from "./i18n";
import { SignIn } from "./SignIn";

function when(iso: string): string {
  const d = new Date(iso);
  return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

/** Whether the browser thinks it has a network (``online`` / ``offline`` events). */
function useOnline(): boolean {
  const [online, setOnline] = useState(globalThis.navigator?.onLine !== false);
  useEffect(() => {
    const on = () => setOnline(true);
    const off = () => setOnline(false);
    globalThis.addEventListener("online", on);
    globalThis.addEventListener("offline", off);
    return () => {
      globalThis.removeEventListener("online", on);
      globalThis.removeEventListener("offline", off);
    };
  }, []);
  return online;
}

export function StatusBar(props: { app: FieldApp; status: SyncStatus; revoked: boolean; username: string | null }) {
  const { app, status, revoked, username } = props;
  const [refusal, setRefusal] = useState<string | null>(null);
  const counts = useLive(() => unsent(app.db), [app]);
  const total = counts?.total ?? status.unsent.total;
  const syncing = status.phase === "syncing";
  const online = useOnline();
  // a refusal is about the moment it was given: once everything is sent it no longer holds
  useEffect(() => {
    if (!total) setRefusal(null);
  }, [total]);
  const signOut = async () => {
    setRefusal(null);
    const left = await unsent(app.db);
    if (left.total) {
      setRefusal(t("sign_out_refused", { n: left.total }));
      return;
    }
    if (!globalThis.confirm(t("sign_out_confirm"))) return;
    try {
      await app.api.logout();
      await clearForSignOut(app.db);
      globalThis.location.hash = "/";
    } catch (exc) {
      if (exc instanceof UnsentData) setRefusal(t("sign_out_refused", { n: exc.unsent.total }));
      else throw exc;
    }
  };
  const phaseText = syncing
    ? t("syncing")
    : revoked || status.phase === "revoked"
      ? ""
      : !online
        ? pick(MESSAGES.offline)
        : status.phase === "idle"
      ? status.lastSyncAt
        ? t("last_sync", { t: when(status.lastSyncAt) })
          : t("phase_never")
        : pick(status.message);
  return (
    <section class="statusbar">
      {revoked || status.phase === "revoked" ? (
        <div class="banner revoked" role="alert" data-testid="revoked">
          <strong>{t("revoked_title")}</strong> {pick(MESSAGES.revoked)}
        </div>
      ) : null}
      <div class="statusline">
        <span class={`unsent ${total ? "some" : "none"}`} data-testid="unsent" data-count={total}>
          {total ? t("unsent_n", { n: total }) : t("all_sent")}
        </span>
        <span class={`phase phase-${online ? status.phase : "offline"}`} data-testid="sync-phase" data-phase={status.phase}>
          {phaseText}
        </span>
        <button class="sync big" data-testid="sync" disabled={syncing || revoked} onClick={() => void app.engine.sync()}>
          {syncing ? t("syncing") : t("sync_now")}
        </button>
        <button class="signout" data-testid="signout" onClick={() => void signOut()}>
          {t("sign_out")}
        </button>
      </div>
      {refusal && (
        <p class="banner warn" role="alert" data-testid="signout-refused">
          {refusal}
        </p>
      )}
      {status.phase === "login" && <SignIn app={app} username={username} />}
    </section>
  );
}
