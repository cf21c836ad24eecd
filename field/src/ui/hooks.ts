// Small hooks the screens share: live IndexedDB queries, the engine's status, the hash route.
import { liveQuery } from "dexie";
import { useEffect, useState } from "preact/hooks";
import type { SyncEngine, SyncStatus } from "../sync";

/** The result of an IndexedDB query, re-run whenever a table it read changes (Dexie liveQuery). */
export function useLive<T>(query: () => Promise<T>, deps: unknown[]): T | undefined {
  const [value, setValue] = useState<T | undefined>(undefined);
  useEffect(() => {
    const subscription = liveQuery(query).subscribe({ next: setValue, error: (e) => console.error(e) });
    return () => subscription.unsubscribe();
  }, deps);
  return value;
}

export function useStatus(engine: SyncEngine): SyncStatus {
  const [status, setStatus] = useState<SyncStatus>(engine.status);
  useEffect(() => engine.subscribe(setStatus), [engine]);
  return status;
}

/** ``#/visit/<id>`` → ``["visit", id]``; anything else is the list. */
export function useRoute(): string[] {
  const read = () => (globalThis.location?.hash ?? "").replace(/^#\/?/, "").split("/").filter(Boolean);
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const onChange = () => setRoute(read());
    globalThis.addEventListener("hashchange", onChange);
    return () => globalThis.removeEventListener("hashchange", onChange);
  }, []);
  return route;
}

export function go(path: string): void {
  globalThis.location.hash = path;
}

/** The tablet's calendar day (YYYY-MM-DD in its own time zone): what "today's visits" means. */
export function today(): string {
  const d = new Date();
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

export function megabytes(bytes: number): string {
  return bytes >= 1073741824 ? `${(bytes / 1073741824).toFixed(1)} GB` : `${(bytes / 1048576).toFixed(1)} MB`;
}
