// The app's screens. This first version shows the sync status; the screens replace it.
import { useEffect, useState } from "preact/hooks";
import type { FieldApp } from "../app";
import type { Pwa } from "../pwa";
import type { SyncStatus } from "../sync";

export function App({ app }: { app: FieldApp; pwa: Pwa }) {
  const [status, setStatus] = useState<SyncStatus>(app.engine.status);
  useEffect(() => app.engine.subscribe(setStatus), [app]);
  return (
    <main>
      <h1>入户复核</h1>
      <p data-testid="sync-phase">{status.phase}</p>
      <p data-testid="unsent">未发送：{status.unsent.total}</p>
    </main>
  );
}
