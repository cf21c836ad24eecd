// The one place that makes the tablet's database, its API client and its sync engine; the
// screens get them from here (or from a test that makes its own).
import { Api, type ApiOptions } from "./api";
import { type FieldDB, openDatabase, requestPersistence } from "./store";
import { SyncEngine, type EngineOptions, tusUploader } from "./sync";

export interface FieldApp {
  db: FieldDB;
  api: Api;
  engine: SyncEngine;
}

export function createFieldApp(options: { dbName?: string; api?: ApiOptions; engine?: EngineOptions } = {}): FieldApp {
  const db = openDatabase(options.dbName);
  const api = new Api(db, options.api);
  const engine = new SyncEngine(db, api, { uploader: tusUploader, ...options.engine });
  return { db, api, engine };
}

/** Start the app's background work: ask for persistent storage, then sync on the usual triggers. */
export function startFieldApp(app: FieldApp): void {
  void requestPersistence();
  app.engine.start();
}
