// The tablet's sync engine: the sync protocol exactly as sync/client/client.py implements it.
// - pull stores each page with the cursor after it (a first sync cut mid-way resumes from the
//   last page); at the head it sends its state digest, on a mismatch its manifest, and applies
//   the server's exact repairs (removals included); a reset (cursor older than the change log)
//   is a full snapshot, checked again at its end;
// - push sends the outbox in order, in batches; an item leaves only with its receipt, a rejected
//   item is parked with the server's reasons and never blocks the rest; a batch whose answer was
//   lost is sent again (the server answers duplicate);
// - each answer's clock offset and evidence status are kept;
// - photos go by tus (upload.ts) after the push, and their blobs stay until the server says stored.
// Triggers (start()): app start, `online`, `visibilitychange` to visible, and every few minutes
// while visible; never Background Sync. One sync at a time, also across tabs (Web Locks).
import { LoginRequired, Refused, Revoked, Unreachable, type Api } from "../api";
import type { HeldItem, PullRequest, PullResponse, PushResponse } from "../schema/types";
import {
  acknowledge,
  applyPage,
  countAttempt,
  type FieldDB,
  getMeta,
  manifest,
  nowIso,
  pendingBatch,
  setMeta,
  stateDigest,
  unsent,
  type Unsent,
} from "../store";
import { confirmPhotos, uploadPhotos, type PhotoSummary, type Uploader } from "./upload";

export interface PullSummary {
  pages: number;
  upserts: number;
  removals: number;
  repairs: number;
  reset: boolean;
  stateCheck: string;
}

export interface PushSummary {
  sent: number;
  acknowledged: number;
  duplicates: number;
  conflicts: number;
  rejected: number;
  batches: number;
}

/**
 * ``idle`` (nothing running), ``syncing``, or why the last sync stopped: ``offline`` (no network
 * or the server unreachable), ``login`` (sign in again), ``revoked`` (this tablet was revoked: its
 * unsent captures stay until a supervisor recovers them), ``error`` (the server refused).
 */
export type SyncPhase = "idle" | "syncing" | "offline" | "login" | "revoked" | "error";

export interface SyncStatus {
  phase: SyncPhase;
  /** What happened, in words (Chinese, English), when the phase is not idle or syncing. */
  message: { zh: string; en: string } | null;
  lastSyncAt: string | null;
  clockOffsetMs: number;
  unsent: Unsent;
  /** Progress of the running sync (pages pulled, items sent, photos uploaded). */
  progress: { pages: number; sent: number; photos: number };
}

export const MESSAGES = {
  offline: { zh: "没有网络，数据已保存在平板上，有网后自动发送。", en: "No network: everything is kept on the tablet and sent when a signal returns." },
  login: { zh: "登录已过期，请重新登录（未发送的数据仍保存在平板上）。", en: "The session has expired: sign in again (unsent data stays on the tablet)." },
  revoked: {
    zh: "这台平板已被停用，不能再同步。未发送的采集仍保存在平板上，请交给主管恢复。",
    en: "This tablet has been revoked and can no longer sync. Its unsent captures stay on it: hand it to your supervisor to recover them.",
  },
  error: { zh: "服务器拒绝了同步请求：", en: "The server refused the sync: " },
} as const;

export interface EngineOptions {
  pageLimit?: number;
  pushBatch?: number;
  /** Minutes between syncs while the app is visible. */
  everyMinutes?: number;
  /** The tus uploader (tests may leave it out: photos are then not uploaded). */
  uploader?: Uploader;
}

type Listener = (status: SyncStatus) => void;

export class SyncEngine {
  readonly pageLimit: number;
  readonly pushBatch: number;
  readonly everyMinutes: number;
  private readonly uploader: Uploader | undefined;
  private running: Promise<SyncStatus> | null = null;
  private listeners = new Set<Listener>();
  private timer: ReturnType<typeof setInterval> | null = null;
  private detach: (() => void) | null = null;
  status: SyncStatus = {
    phase: "idle",
    message: null,
    lastSyncAt: null,
    clockOffsetMs: 0,
    unsent: { pending: 0, rejected: 0, photos: 0, total: 0 },
    progress: { pages: 0, sent: 0, photos: 0 },
  };

  constructor(
    readonly db: FieldDB,
    readonly api: Api,
    options: EngineOptions = {},
  ) {
    this.pageLimit = options.pageLimit ?? 1000;
    this.pushBatch = options.pushBatch ?? 200;
    this.everyMinutes = options.everyMinutes ?? 3;
    this.uploader = options.uploader;
  }

  // ---------------------------------------------------------------- status

  /** Be told of every status change (returns the unsubscribe function). */
  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    listener(this.status);
    return () => this.listeners.delete(listener);
  }

  private emit(change: Partial<SyncStatus>): void {
    this.status = { ...this.status, ...change };
    for (const listener of this.listeners) listener(this.status);
  }

  /** Re-read the unsent counts (after a capture is recorded, a photo taken...). */
  async refresh(): Promise<SyncStatus> {
    const [left, offset, revoked] = await Promise.all([
      unsent(this.db),
      getMeta(this.db, "clock_offset_ms"),
      getMeta(this.db, "revoked"),
    ]);
    const change: Partial<SyncStatus> = { unsent: left, clockOffsetMs: offset ?? 0 };
    if (revoked) Object.assign(change, { phase: "revoked", message: MESSAGES.revoked });
    this.emit(change);
    return this.status;
  }

  // ---------------------------------------------------------------- pull

  /** Download changes until the feed is exhausted (or ``maxPages`` pages). */
  async pull(maxPages?: number): Promise<PullSummary> {
    const summary: PullSummary = { pages: 0, upserts: 0, removals: 0, repairs: 0, reset: false, stateCheck: "skipped" };
    let sendManifest = false;
    let checkAgain = false;
    while (maxPages === undefined || summary.pages < maxPages) {
      const atHead = (await getMeta(this.db, "synced_to_head")) === true;
      const request: PullRequest = {
        device_time: nowIso(),
        cursor: (await getMeta(this.db, "cursor")) ?? null,
        limit: this.pageLimit,
        // the server compares digests only when nothing is left to send, so only then is it worth computing
        digest: sendManifest || atHead ? await stateDigest(this.db) : null,
        ref_version: (await getMeta(this.db, "ref_version")) ?? null,
        held: sendManifest
          ? (await manifest(this.db)).map(([kind, id, version]): HeldItem => ({ kind, id, version }))
          : null,
      };
      const response = await this.api.post<PullResponse>("/sync/pull", request);
      const page = await applyPage(this.db, response);
      summary.pages += 1;
      summary.upserts += page.upserts;
      summary.removals += page.removals;
      summary.repairs += page.repairs;
      summary.stateCheck = response.state_check ?? "skipped";
      this.emit({ progress: { ...this.status.progress, pages: this.status.progress.pages + 1 } });
      if (response.reset) {
        summary.reset = true;
        checkAgain = true;
      }
      if (response.state_check === "mismatch") {
        sendManifest = true;
        continue;
      }
      sendManifest = false;
      if (response.has_more) continue;
      if (checkAgain) {
        checkAgain = false;
        continue;
      }
      break;
    }
    return summary;
  }

  // ---------------------------------------------------------------- push

  /** Send the outbox in order until it is empty (rejected items are parked, not resent). */
  async push(): Promise<PushSummary> {
    const summary: PushSummary = { sent: 0, acknowledged: 0, duplicates: 0, conflicts: 0, rejected: 0, batches: 0 };
    for (;;) {
      const batch = await pendingBatch(this.db, this.pushBatch);
      if (!batch.length) break;
      await countAttempt(this.db, batch);
      const response = await this.api.post<PushResponse>("/sync/push", {
        device_time: nowIso(),
        mutations: batch.map((item) => item.body),
      });
      const receipts = await acknowledge(this.db, batch, response.results, response.evidence, response.clock_offset_ms);
      summary.batches += 1;
      summary.sent += batch.length;
      summary.acknowledged += receipts.acknowledged;
      summary.duplicates += receipts.duplicates;
      summary.conflicts += receipts.conflicts;
      summary.rejected += receipts.rejected;
      this.emit({ progress: { ...this.status.progress, sent: this.status.progress.sent + batch.length } });
      // an answer that acknowledged nothing of a non-empty batch would loop forever
      if (receipts.acknowledged + receipts.rejected === 0) break;
    }
    return summary;
  }

  // ---------------------------------------------------------------- one sync

  /**
   * Push what was captured, pull what changed, then upload photos and confirm them. Concurrent
   * calls share the running sync. Never throws: the outcome is in the returned status.
   */
  sync(): Promise<SyncStatus> {
    if (!this.running) {
      this.running = this.withLock(() => this.runOnce()).finally(() => {
        this.running = null;
      });
    }
    return this.running;
  }

  private async withLock(work: () => Promise<SyncStatus>): Promise<SyncStatus> {
    const locks = globalThis.navigator?.locks;
    if (!locks) return work();
    // another tab of the app syncing already: this one leaves it to that one
    const result = await locks.request("recheck-sync", { ifAvailable: true }, (lock) => (lock ? work() : null));
    return result ?? this.status;
  }

  private async runOnce(): Promise<SyncStatus> {
    if (await getMeta(this.db, "revoked")) return this.refresh();
    if (!(await getMeta(this.db, "access_token")) && !(await getMeta(this.db, "refresh_token"))) {
      this.emit({ phase: "login", message: MESSAGES.login });
      return this.refresh();
    }
    this.emit({ phase: "syncing", message: null, progress: { pages: 0, sent: 0, photos: 0 } });
    try {
      await this.push();
      await this.pull();
      if (this.uploader) {
        const photos: PhotoSummary = await uploadPhotos(this.db, this.api, this.uploader, (n) =>
          this.emit({ progress: { ...this.status.progress, photos: n } }),
        );
        if (photos.failed && !photos.uploaded) throw photos.error ?? new Unreachable("photo uploads failed");
      }
      await confirmPhotos(this.db, this.api);
      const at = nowIso();
      await setMeta(this.db, "last_sync_error", undefined);
      this.emit({ phase: "idle", message: null, lastSyncAt: at });
    } catch (exc) {
      this.emit(await this.failure(exc));
    }
    return this.refresh();
  }

  private async failure(exc: unknown): Promise<Partial<SyncStatus>> {
    await setMeta(this.db, "last_sync_error", String(exc));
    if (exc instanceof Revoked) return { phase: "revoked", message: MESSAGES.revoked };
    if (exc instanceof LoginRequired) return { phase: "login", message: MESSAGES.login };
    if (exc instanceof Unreachable || exc instanceof TypeError) return { phase: "offline", message: MESSAGES.offline };
    if (exc instanceof Refused) {
      const detail = exc.body?.message ?? `HTTP ${exc.status}`;
      return { phase: "error", message: { zh: MESSAGES.error.zh + detail, en: MESSAGES.error.en + detail } };
    }
    const detail = exc instanceof Error ? exc.message : String(exc);
    return { phase: "error", message: { zh: MESSAGES.error.zh + detail, en: MESSAGES.error.en + detail } };
  }

  // ---------------------------------------------------------------- triggers

  /** Sync now (app start), on `online`, when the app becomes visible, and every few minutes while visible. */
  start(): void {
    if (this.detach) return;
    const visible = () => globalThis.document?.visibilityState !== "hidden";
    const kick = () => {
      if (visible() && globalThis.navigator?.onLine !== false) void this.sync();
    };
    const onVisibility = () => {
      if (visible()) kick();
    };
    globalThis.addEventListener?.("online", kick);
    globalThis.document?.addEventListener("visibilitychange", onVisibility);
    this.timer = setInterval(kick, this.everyMinutes * 60_000);
    this.detach = () => {
      globalThis.removeEventListener?.("online", kick);
      globalThis.document?.removeEventListener("visibilitychange", onVisibility);
      if (this.timer) clearInterval(this.timer);
      this.timer = null;
    };
    void this.refresh().then(kick);
  }

  stop(): void {
    this.detach?.();
    this.detach = null;
  }
}
