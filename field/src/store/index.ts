// Store operations the screens and the sync engine use; each is one IndexedDB transaction.
// The twin of sync/client/store.py plus the "local work" half of sync/client/client.py.
import { CAPTURE_DEFAULTS, CAPTURE_FIELDS } from "../schema/defaults";
import type {
  Capture,
  CaptureMutation,
  EvidenceStatus,
  FeedItem,
  HouseholdMutation,
  HouseholdPatch,
  MutationResult,
  PullResponse,
  ReferenceData,
  VisitItem,
} from "../schema/types";
import { type FieldError, validateMutation } from "../schema";
import { digest, type HeldEntry } from "./digest";
import type {
  Draft,
  FieldDB,
  HeldHousehold,
  HeldVisit,
  Meta,
  MetaKey,
  OutboxItem,
} from "./db";

export * from "./db";
export { digest } from "./digest";
export * from "./photos";

/** A capture or household edit the tablet refuses before anything is queued (field paths). */
export class InvalidCapture extends Error {
  constructor(readonly errors: FieldError[]) {
    super(errors.map((e) => `${e.path}: ${e.reason}`).join("; "));
    this.name = "InvalidCapture";
  }
}

/** Sign-out or switching user while data is unsent. */
export class UnsentData extends Error {
  constructor(readonly unsent: Unsent) {
    super(`${unsent.total} item(s) not yet sent`);
    this.name = "UnsentData";
  }
}

export const nowIso = (): string => new Date().toISOString();

export function uuid4(): string {
  return crypto.randomUUID();
}

// ---------------------------------------------------------------- meta

export async function getMeta<K extends MetaKey>(db: FieldDB, key: K): Promise<Meta[K] | undefined> {
  const row = await db.meta.get(key);
  return row?.value as Meta[K] | undefined;
}

export async function setMeta<K extends MetaKey>(db: FieldDB, key: K, value: Meta[K] | undefined): Promise<void> {
  if (value === undefined) await db.meta.delete(key);
  else await db.meta.put({ key, value });
}

/** The device's own mutation counter (orders its edits of one field); call inside a transaction. */
async function nextSeq(db: FieldDB): Promise<number> {
  const seq = ((await getMeta(db, "device_seq")) ?? 0) + 1;
  await setMeta(db, "device_seq", seq);
  return seq;
}

// ---------------------------------------------------------------- held records

/** ``(kind, id, version)`` of every record the tablet holds: its manifest for the state check. */
export async function manifest(db: FieldDB): Promise<HeldEntry[]> {
  const [visits, households, captures] = await Promise.all([
    db.visits.toArray(),
    db.households.toArray(),
    db.captures.toArray(),
  ]);
  return [
    ...visits.map((r): HeldEntry => ["visit", r.id, r.version]),
    ...households.map((r): HeldEntry => ["household", r.id, r.version]),
    ...captures.map((r): HeldEntry => ["capture", r.id, r.version]),
  ];
}

/** The state-check digest of every held record (cached until a record changes). */
export async function stateDigest(db: FieldDB): Promise<string> {
  const cached = await getMeta(db, "digest");
  if (cached) return cached;
  const value = await digest(await manifest(db));
  await setMeta(db, "digest", value);
  return value;
}

function tableFor(db: FieldDB, kind: FeedItem["kind"]) {
  return kind === "visit" ? db.visits : kind === "household" ? db.households : db.captures;
}

export interface PageSummary {
  upserts: number;
  removals: number;
  repairs: number;
}

/**
 * Store one page of the feed together with the cursor after it (so a first sync cut mid-way
 * resumes from the last page), and rebuild the drafts of the captures it touched.
 */
export async function applyPage(db: FieldDB, page: PullResponse, at: string = nowIso()): Promise<PageSummary> {
  const summary: PageSummary = { upserts: 0, removals: 0, repairs: 0 };
  const tables = [db.visits, db.households, db.captures, db.drafts, db.outbox, db.evidence, db.meta];
  await db.transaction("rw", tables, async () => {
    const captures = new Map<string, boolean>(); // id -> removed
    for (const item of page.items) {
      const table = tableFor(db, item.kind);
      if (item.removed) {
        await table.delete(item.id);
        if (item.kind === "visit") await db.evidence.delete(item.id);
        summary.removals += 1;
        if (item.reason === "repair") summary.repairs += 1;
        if (item.kind === "capture") captures.set(item.id, true);
        continue;
      }
      // the server sends the record as a pre-encoded document; JSON answers embed it as is
      await table.put({ id: item.id, version: item.version ?? 0, data: (item.data ?? {}) as never });
      if (item.kind === "visit") {
        // the visit's evidence status in the feed is newer than the last push answer's
        const missing = (item.data as VisitItem | undefined)?.missing_photos ?? [];
        if (missing.length) await db.evidence.put({ visit_id: item.id, missing });
        else await db.evidence.delete(item.id);
      }
      summary.upserts += 1;
      if (item.kind === "capture" && !captures.get(item.id)) captures.set(item.id, false);
    }
    if (page.items.length) await db.meta.delete("digest");
    for (const [id, removed] of captures) await rebuildDraft(db, id, removed, at);
    if (page.reference) {
      await setMeta(db, "reference", page.reference);
      await setMeta(db, "ref_version", page.reference.version);
    }
    await setMeta(db, "cursor", page.cursor);
    await setMeta(db, "clock_offset_ms", page.clock_offset_ms);
    await setMeta(db, "last_pull_at", at);
    await setMeta(db, "synced_to_head", !page.has_more);
  });
  return summary;
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== "object" || typeof b !== "object") return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((v, i) => sameValue(v, bb[i]));
  }
  const ka = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
  const kb = Object.keys(b).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
  return (
    ka.length === kb.length &&
    ka.every((k) => sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
  );
}

/** The whole form: every field present (defaults filled in), in schema order. */
export function fullForm(form: Capture | undefined | null): Required<Capture> {
  const out = { ...CAPTURE_DEFAULTS } as Record<string, unknown>;
  for (const name of CAPTURE_FIELDS) {
    const value = form?.[name];
    if (value !== undefined) out[name] = structuredClone(value);
  }
  return out as Required<Capture>;
}

/** The fields of ``next`` that differ from ``base``. */
export function changedFields(base: Capture, next: Capture): Partial<Capture> {
  const a = fullForm(base);
  const b = fullForm(next);
  const out: Record<string, unknown> = {};
  for (const name of CAPTURE_FIELDS) if (!sameValue(a[name], b[name])) out[name] = b[name];
  return out as Partial<Capture>;
}

async function pendingFor(db: FieldDB, entityId: string): Promise<OutboxItem[]> {
  const rows = await db.outbox.where("entity_id").equals(entityId).toArray();
  return rows.filter((r) => r.state === "pending").sort((x, y) => (x.n ?? 0) - (y.n ?? 0));
}

/**
 * ``recorded`` = the server's capture (if any) with this device's unsent mutations on top; the
 * worker's unrecorded edits stay on top of that, so a supervisor's correction arrives without
 * wiping what the worker typed since. A capture the server took off the tablet keeps its draft
 * only while edits of it still wait in the outbox (they are still delivered).
 */
async function rebuildDraft(db: FieldDB, captureId: string, removed: boolean, at: string): Promise<void> {
  const held = await db.captures.get(captureId);
  const pending = await pendingFor(db, captureId);
  const draft = await db.drafts.get(captureId);
  if (!held && !removed) return;
  if (!held && !pending.length) {
    if (draft) await db.drafts.delete(captureId);
    return;
  }
  let recorded: Capture = fullForm(held?.data.form);
  let visitId = held?.data.visit_id ?? draft?.visit_id;
  let submitted = Boolean(held?.data.submitted_at);
  for (const item of pending) {
    const body = item.body as CaptureMutation;
    recorded = { ...recorded, ...(body.fields ?? {}) } as Capture;
    visitId = body.visit_id ?? visitId;
    submitted ||= Boolean(body.submit);
  }
  if (!visitId) return;
  const unrecorded = draft ? changedFields(draft.recorded, draft.form) : {};
  await db.drafts.put({
    id: captureId,
    visit_id: visitId,
    recorded,
    form: fullForm({ ...recorded, ...unrecorded }),
    updated_at: at,
    // a returned visit is captured again: the server clears submitted_at
    submitted: pending.length ? submitted || Boolean(draft?.submitted) : submitted,
  });
}

// ---------------------------------------------------------------- local work

export interface VisitView {
  visit: HeldVisit;
  household: HeldHousehold | undefined;
  draft: Draft | undefined;
  /** Mutations of this visit's capture still waiting for their receipt. */
  pending: number;
  /** Mutations of this visit the server rejected (with its reasons in ``result.errors``). */
  rejected: OutboxItem[];
  /** Photo hashes the server still lacks for this visit. */
  missingPhotos: string[];
}

function routeKey(v: HeldVisit): [string, number, string] {
  return [v.data.visit_on ?? "9999-12-31", v.data.route_order ?? 0, v.data.due_on];
}

/**
 * The visits on the tablet (only those planned for ``day`` or unplanned, if given), in route order.
 * Each table is read once (not once per visit): the list re-reads after every write, and a
 * tablet holds hundreds of visits.
 */
export async function listVisits(db: FieldDB, day?: string): Promise<VisitView[]> {
  const tables = [db.visits, db.households, db.drafts, db.outbox, db.evidence];
  return db.transaction("r", tables, async () => {
    let visits = await db.visits.toArray();
    if (day) visits = visits.filter((v) => !v.data.visit_on || v.data.visit_on === day);
    visits.sort((a, b) => {
      const [x, y] = [routeKey(a), routeKey(b)];
      return x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : x[1] - y[1] || (x[2] < y[2] ? -1 : x[2] > y[2] ? 1 : 0);
    });
    const [outbox, drafts, households, evidence] = await Promise.all([
      db.outbox.toArray(),
      db.drafts.toArray(),
      db.households.bulkGet([...new Set(visits.map((v) => v.data.household_id))]),
      db.evidence.toArray(),
    ]);
    const byHousehold = new Map(households.filter((h) => h !== undefined).map((h) => [h!.id, h!]));
    const draftOf = new Map<string, Draft>();
    // the lowest capture id of a visit is its draft (as captureFor picks it)
    for (const d of [...drafts].sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0))) draftOf.set(d.visit_id, d);
    const missing = new Map(evidence.map((e) => [e.visit_id, e.missing]));
    const outboxOf = new Map<string, OutboxItem[]>();
    for (const o of outbox) if (o.visit_id) outboxOf.set(o.visit_id, [...(outboxOf.get(o.visit_id) ?? []), o]);
    return visits.map((visit) => {
      const mine = outboxOf.get(visit.id) ?? [];
      return {
        visit,
        household: byHousehold.get(visit.data.household_id),
        draft: draftOf.get(visit.id),
        pending: mine.filter((o) => o.state === "pending").length,
        rejected: mine.filter((o) => o.state === "rejected"),
        missingPhotos: missing.get(visit.id) ?? [],
      };
    });
  });
}

export const getVisit = (db: FieldDB, id: string) => db.visits.get(id);
export const getHousehold = (db: FieldDB, id: string) => db.households.get(id);
export const getDraft = (db: FieldDB, captureId: string) => db.drafts.get(captureId);
export const getReference = (db: FieldDB): Promise<ReferenceData | undefined> => getMeta(db, "reference");

/** The capture id of a visit's draft on this tablet, if any. */
export async function captureFor(db: FieldDB, visitId: string): Promise<string | undefined> {
  const drafts = await db.drafts.where("visit_id").equals(visitId).sortBy("id");
  return drafts[0]?.id;
}

/**
 * Save the worker's form as it is now (on every change; nothing is queued). Returns the capture id.
 * The first save of a visit makes its capture id; later saves keep it.
 */
export async function saveDraft(db: FieldDB, visitId: string, form: Capture, captureId?: string): Promise<string> {
  return db.transaction("rw", [db.drafts, db.captures], async () => {
    const id = captureId ?? (await captureFor(db, visitId)) ?? uuid4();
    const existing = await db.drafts.get(id);
    const recorded = existing?.recorded ?? fullForm((await db.captures.get(id))?.data.form);
    await db.drafts.put({
      id,
      visit_id: visitId,
      form: fullForm(form),
      recorded,
      updated_at: nowIso(),
      submitted: existing?.submitted ?? false,
    });
    return id;
  });
}

/**
 * Record the capture form of a visit into the outbox: only the fields that changed since what was
 * last recorded, validated against the server's schema first (an invalid form is refused here, with
 * the field paths, and nothing is queued). The draft and its outbox item are one transaction.
 * Recording again after the server refused an edit of this capture replaces the refused items: the
 * new mutation carries every field that differs from the server's capture, the refused ones too.
 * Returns the capture id, or ``null`` if nothing changed and nothing was submitted.
 */
export async function recordCapture(
  db: FieldDB,
  visitId: string,
  form: Capture,
  options: { captureId?: string; submit?: boolean } = {},
): Promise<string | null> {
  const submit = options.submit ?? false;
  return db.transaction("rw", [db.drafts, db.captures, db.outbox, db.meta], async () => {
    const id = options.captureId ?? (await captureFor(db, visitId)) ?? uuid4();
    const existing = await db.drafts.get(id);
    const server = await db.captures.get(id);
    const refused = (await db.outbox.where("entity_id").equals(id).toArray()).filter((r) => r.state === "rejected");
    let recorded = existing?.recorded ?? fullForm(server?.data.form);
    let submitted = existing?.submitted ?? false;
    if (refused.length) {
      // what the server refused is not on the server: this record replaces it, so it is measured
      // against the server's capture and the edits still on their way, never against the refusal
      recorded = fullForm(server?.data.form);
      submitted = Boolean(server?.data.submitted_at);
      for (const item of await pendingFor(db, id)) {
        const body = item.body as CaptureMutation;
        recorded = fullForm({ ...recorded, ...(body.fields ?? {}) } as Capture);
        submitted ||= Boolean(body.submit);
      }
    }
    const next = fullForm(form);
    const fields = changedFields(recorded, next);
    for (const item of refused) await db.outbox.delete(item.n!);
    if (!Object.keys(fields).length && !submit) {
      if (refused.length) await db.drafts.update(id, { recorded: next, submitted });
      return null;
    }
    const at = nowIso();
    const mutation: CaptureMutation = {
      entity: "capture",
      mutation_id: uuid4(),
      entity_id: id,
      visit_id: visitId,
      base_version: server?.version ?? 0,
      device_seq: await nextSeq(db),
      device_time: at,
      fields,
      submit,
    };
    const errors = validateMutation(mutation);
    if (errors.length) throw new InvalidCapture(errors);
    await db.drafts.put({
      id,
      visit_id: visitId,
      form: next,
      recorded: next,
      updated_at: at,
      submitted: submitted || submit,
    });
    await db.outbox.add({
      mutation_id: mutation.mutation_id,
      entity: "capture",
      entity_id: id,
      visit_id: visitId,
      body: mutation,
      state: "pending",
      attempts: 0,
      created_at: at,
      result: null,
    });
    return id;
  });
}

/** Queue a correction of household details (address, phone, position; category is a proposal). */
export async function editHousehold(db: FieldDB, householdId: string, patch: HouseholdPatch): Promise<string> {
  return db.transaction("rw", [db.households, db.outbox, db.meta], async () => {
    const held = await db.households.get(householdId);
    const at = nowIso();
    const mutation: HouseholdMutation = {
      entity: "household",
      mutation_id: uuid4(),
      entity_id: householdId,
      base_version: held?.version ?? 0,
      device_seq: await nextSeq(db),
      device_time: at,
      fields: patch,
    };
    const errors = validateMutation(mutation);
    if (errors.length) throw new InvalidCapture(errors);
    await db.outbox.add({
      mutation_id: mutation.mutation_id,
      entity: "household",
      entity_id: householdId,
      visit_id: null,
      body: mutation,
      state: "pending",
      attempts: 0,
      created_at: at,
      result: null,
    });
    return mutation.mutation_id;
  });
}

// ---------------------------------------------------------------- outbox and receipts

/** The oldest pending outbox items (rejected ones are parked and never block these). */
export async function pendingBatch(db: FieldDB, limit: number): Promise<OutboxItem[]> {
  return db.outbox.where("state").equals("pending").sortBy("n").then((rows) => rows.slice(0, limit));
}

export async function countAttempt(db: FieldDB, items: OutboxItem[]): Promise<void> {
  await db.transaction("rw", db.outbox, async () => {
    for (const item of items) await db.outbox.update(item.n!, { attempts: item.attempts + 1 });
  });
}

export interface ReceiptSummary {
  acknowledged: number;
  duplicates: number;
  conflicts: number;
  rejected: number;
}

/**
 * A push's answer: keep each receipt and drop its outbox item (or park it, if rejected), store
 * the evidence status and the clock offset, all in one transaction. An item without a result
 * in the answer stays in the outbox and is sent again (the server answers ``duplicate``).
 */
export async function acknowledge(
  db: FieldDB,
  batch: OutboxItem[],
  results: MutationResult[],
  evidence: EvidenceStatus[],
  clockOffsetMs: number,
  at: string = nowIso(),
): Promise<ReceiptSummary> {
  const summary: ReceiptSummary = { acknowledged: 0, duplicates: 0, conflicts: 0, rejected: 0 };
  await db.transaction("rw", [db.outbox, db.receipts, db.evidence, db.meta], async () => {
    for (const result of results) {
      const item = batch[result.index];
      if (!item) continue;
      await db.receipts.put({ mutation_id: item.mutation_id, status: result.status, result, at });
      if (result.status === "rejected") {
        await db.outbox.update(item.n!, { state: "rejected", result });
        summary.rejected += 1;
      } else {
        await db.outbox.delete(item.n!);
        summary.acknowledged += 1;
        if (result.status === "duplicate") summary.duplicates += 1;
        if (result.status === "conflict") summary.conflicts += 1;
      }
    }
    for (const e of evidence) {
      if (e.missing.length) await db.evidence.put({ visit_id: e.visit_id, missing: e.missing });
      else await db.evidence.delete(e.visit_id);
    }
    await setMeta(db, "clock_offset_ms", clockOffsetMs);
    await setMeta(db, "last_push_at", at);
  });
  return summary;
}

export interface Unsent {
  /** Mutations waiting to be sent. */
  pending: number;
  /** Mutations the server refused: their data is not on the server either. */
  rejected: number;
  /** Photos the server has not yet said it stored. */
  photos: number;
  total: number;
}

/** What is on this tablet and not (yet) on the server: sign-out is refused while ``total > 0``. */
export async function unsent(db: FieldDB): Promise<Unsent> {
  return db.transaction("r", [db.outbox, db.photos], async () => {
    const pending = await db.outbox.where("state").equals("pending").count();
    const rejected = await db.outbox.where("state").equals("rejected").count();
    const photos = await db.photos.where("status").noneOf(["stored"]).count();
    return { pending, rejected, photos, total: pending + rejected + photos };
  });
}

/**
 * Forget the signed-in worker (sign-out or switching user): refused with the count while anything
 * is unsent. Clears every table, the device credential included (a device belongs to one worker).
 */
export async function clearForSignOut(db: FieldDB): Promise<void> {
  await db.transaction("rw", db.tables, async () => {
    const left = await unsent(db);
    if (left.total) throw new UnsentData(left);
    for (const table of db.tables) await table.clear();
  });
}
