// The tablet's IndexedDB database (Dexie): what it holds from the server, the worker's drafts,
// the outbox with its receipts, and photo blobs. The twin of sync/client/store.py: every change
// that must stay together (a feed page and its cursor, a draft and its outbox item, a receipt
// and the dropped outbox item) is one IndexedDB transaction.
//
// Migrations: each entry of VERSIONS is one schema version, never edited once shipped. A new
// version lists only what changes (Dexie keeps the previous stores) and may carry an upgrade
// that rewrites rows; a table is never dropped while it holds data (test/store.test.ts opens
// every earlier version, writes to it, upgrades and checks every row is still there).
import Dexie, { type Table, type Transaction } from "dexie";
import type {
  Capture,
  CaptureItem,
  CaptureMutation,
  HouseholdItem,
  HouseholdMutation,
  MutationResult,
  PhotoKind,
  ReferenceData,
  ResultStatus,
  VisitItem,
} from "../schema/types";

export const DB_NAME = "recheck-field";

/** A record from the server's feed, as received (``version`` is the server's). */
export interface Held<T> {
  id: string;
  version: number;
  data: T;
}

export type HeldVisit = Held<VisitItem>;
export type HeldHousehold = Held<HouseholdItem>;
export type HeldCapture = Held<CaptureItem>;

/**
 * The worker's view of one capture.
 * ``recorded``: the server's capture with this device's queued edits on top (what the server will
 * have once the outbox is sent). ``form``: what the worker sees, saved on every change; where it
 * differs from ``recorded`` are edits not yet recorded into the outbox.
 */
export interface Draft {
  id: string;
  visit_id: string;
  form: Capture;
  recorded: Capture;
  updated_at: string;
  /** The worker handed it in (a submit mutation is queued or sent). */
  submitted: boolean;
}

export type OutboxState = "pending" | "rejected";
export type Mutation = CaptureMutation | HouseholdMutation;

/** A mutation waiting for its receipt. ``n`` orders the outbox (auto-increment). */
export interface OutboxItem {
  n?: number;
  mutation_id: string;
  entity: "capture" | "household";
  entity_id: string;
  /** The visit a capture mutation belongs to (to show a rejection on that visit). */
  visit_id: string | null;
  body: Mutation;
  state: OutboxState;
  attempts: number;
  created_at: string;
  result: MutationResult | null;
}

/** The server's answer for an acknowledged mutation (kept for display). */
export interface Receipt {
  mutation_id: string;
  status: ResultStatus;
  result: MutationResult;
  at: string;
}

/** Per visit, the photo hashes the server still lacks (from the last push answer or the visit pulled since). */
export interface Evidence {
  visit_id: string;
  missing: string[];
}

/**
 * ``local``: only on the tablet; ``uploading``: a tus upload exists (``upload_url``);
 * ``uploaded``: every byte sent, the server has not yet said it is stored;
 * ``stored``: the server has it (the blob may then be dropped); ``rejected`` by the server.
 */
export type PhotoStatus = "local" | "uploading" | "uploaded" | "stored" | "rejected";

export interface PhotoRecord {
  sha256: string;
  /** The original bytes; kept until the server says the photo is stored. */
  blob: Blob | null;
  kind: PhotoKind;
  visit_id: string;
  capture_id: string | null;
  filename: string;
  type: string;
  size: number;
  created_at: string;
  status: PhotoStatus;
  /** The tus upload's URL, so an upload resumes from the server's offset after a restart. */
  upload_url: string | null;
  sent_bytes: number;
  error: string | null;
}

/** Everything the device keeps in ``meta`` (key/value). */
export interface Meta {
  device_id: string;
  device_secret: string;
  username: string;
  user_id: string;
  display_name: string;
  access_token: string;
  refresh_token: string;
  cursor: string;
  synced_to_head: boolean;
  reference: ReferenceData;
  ref_version: string;
  clock_offset_ms: number;
  last_pull_at: string;
  last_push_at: string;
  last_sync_error: string;
  device_seq: number;
  /** The cached state-check digest; deleted whenever a held record changes. */
  digest: string;
  /** Set when the server refused this device as revoked: sync stops, unsent data stays. */
  revoked: boolean;
}
export type MetaKey = keyof Meta;

export interface MetaRow<K extends MetaKey = MetaKey> {
  key: K;
  value: Meta[K];
}

export interface SchemaVersion {
  version: number;
  stores: Record<string, string | null>;
  upgrade?: (tx: Transaction) => Promise<void> | void;
}

/** Every schema version the app has shipped, oldest first. */
export const VERSIONS: SchemaVersion[] = [
  {
    version: 1,
    stores: {
      meta: "key",
      visits: "id",
      households: "id",
      captures: "id, data.visit_id",
      drafts: "id, visit_id",
      outbox: "++n, &mutation_id, state, entity_id, visit_id",
      receipts: "mutation_id",
      evidence: "visit_id",
      photos: "sha256, visit_id, capture_id, status",
    },
  },
];

export class FieldDB extends Dexie {
  meta!: Table<MetaRow, MetaKey>;
  visits!: Table<HeldVisit, string>;
  households!: Table<HeldHousehold, string>;
  captures!: Table<HeldCapture, string>;
  drafts!: Table<Draft, string>;
  outbox!: Table<OutboxItem, number>;
  receipts!: Table<Receipt, string>;
  evidence!: Table<Evidence, string>;
  photos!: Table<PhotoRecord, string>;

  /** ``versions`` other than all of VERSIONS only in the migration test. */
  constructor(name: string = DB_NAME, versions: SchemaVersion[] = VERSIONS) {
    super(name);
    for (const v of versions) {
      const version = this.version(v.version).stores(v.stores);
      if (v.upgrade) version.upgrade(v.upgrade);
    }
  }
}

/** Open the app's database (one per page; ``name`` differs only in tests). */
export function openDatabase(name: string = DB_NAME): FieldDB {
  return new FieldDB(name);
}
