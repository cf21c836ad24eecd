// The app's frame: signed out → the sign-in screen; signed in → the header with the sync status
// and either today's visit list or one visit (``#/visit/<id>``).
import { useEffect, useState } from "preact/hooks";
import type { FieldApp } from "../app";
import type { Pwa } from "../pwa";
import { getMeta } from "../store";
import { go, useLive, useRoute, useStatus } from "./hooks";
import { setLang, t, useLang } from "./i18n";
import { SignIn } from "./SignIn";
import { StatusBar } from "./StatusBar";
import { VisitList } from "./VisitList";
import { VisitScreen } from "./VisitScreen";

export function App({ app, pwa }: { app: FieldApp; pwa: Pwa }) {
  const lang = useLang();
  const route = useRoute();
  const status = useStatus(app.engine);
  const [updateReady, setUpdateReady] = useState(false);
  useEffect(() => pwa.onUpdateReady(() => setUpdateReady(true)), [pwa]);
  const session = useLive(
    async () => ({
      username: (await getMeta(app.db, "username")) ?? null,
      displayName: (await getMeta(app.db, "display_name")) ?? null,
      signedIn: Boolean(await getMeta(app.db, "refresh_token")),
      revoked: Boolean(await getMeta(app.db, "revoked")),
    }),
    [app],
  );
  if (!session) return <main class="loading" />;
  const needsLogin = !session.username || (!session.signedIn && !session.revoked);
  return (
    <div class="app" lang={lang === "zh" ? "zh-CN" : "en"}>
      <header class="topbar">
        <button class="title" onClick={() => go("/")}>
          {t("app_title")}
        </button>
        <span class="who" data-testid="who">
          {session.displayName ?? session.username ?? ""}
        </span>
        <button class="lang" data-testid="lang" onClick={() => setLang(lang === "zh" ? "en" : "zh")}>
          {t("language")}
        </button>
      </header>
      {updateReady && (
        <button class="banner update" onClick={() => pwa.applyUpdate()}>
          {t("update_ready")}
        </button>
      )}
      {needsLogin ? (
        <SignIn app={app} username={session.username} />
      ) : (
        <>
          <StatusBar app={app} status={status} revoked={session.revoked} username={session.username} />
          {route[0] === "visit" && route[1] ? (
            <VisitScreen app={app} visitId={route[1]} status={status} />
          ) : (
            <VisitList app={app} status={status} />
          )}
        </>
      )}
    </div>
  );
}
