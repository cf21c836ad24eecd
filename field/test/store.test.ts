// The tablet's store on a real (in-memory) IndexedDB: migrations keep every earlier version's
// rows, a recorded capture and its outbox item are one transaction, only changed fields are
// queued, invalid forms are refused before anything is queued, receipts drop outbox items and
// rejections park them, sign-out is refused while anything is unsent, photos keep their bytes.
import { createHash } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Capture, MutationResult } from "../src/schema";
import {
  acknowledge,
  addPhoto,
  applyPage,
  clearForSignOut,
  FieldDB,
  getDraft,
  InvalidCapture,
  listVisits,
  PhotoRefused,
  pendingBatch,
  recordCapture,
  saveDraft,
  stateDigest,
  unsent,
  UnsentData,
  VERSIONS,
} from "../src/store";
import { jpeg, visitPage, ids } from "./fixtures";

let db: FieldDB;
let n = 0;

beforeEach(async () => {
  db = new FieldDB(`store-${++n}`);
  await db.open();
});
afterEach(async () => {
  await db.delete();
});

const completed = (notes: string): Capture => ({ outcome: "completed", notes, signature_missing: "cannot_write" });

describe("migrations", () => {
  it("keep every row written by each earlier version", async () => {
    for (let k = 1; k <= VERSIONS.length; k++) {
      const name = `migrate-${k}`;
      const old = new FieldDB(name, VERSIONS.slice(0, k));
      await old.open();
      const tables = old.tables.map((t) => t.name);
      await old.meta.put({ key: "cursor", value: "c-17" });
      await old.outbox.add({
        mutation_id: ids.mutation,
        entity: "capture",
        entity_id: ids.capture,
        visit_id: ids.visit,
        body: { entity: "capture", mutation_id: ids.mutation, entity_id: ids.capture, visit_id: ids.visit, base_version: 0 },
        state: "pending",
        attempts: 0,
        created_at: "2026-12-03T00:00:00Z",
        result: null,
      });
      old.close();
      const current = new FieldDB(name);
      await current.open();
      // no table of an earlier version disappears, and its rows are still there
      expect(current.tables.map((t) => t.name)).toEqual(expect.arrayContaining(tables));
      expect((await current.meta.get("cursor"))?.value).toBe("c-17");
      expect(await current.outbox.count()).toBe(1);
      await current.delete();
    }
  });
});

describe("captures and the outbox", () => {
  it("saves drafts on every change without queueing, then records only the changed fields", async () => {
    await applyPage(db, visitPage());
    const id = await saveDraft(db, ids.visit, { outcome: "completed" });
    expect(await db.outbox.count()).toBe(0);
    expect((await getDraft(db, id))?.form.outcome).toBe("completed");

    expect(await recordCapture(db, ids.visit, completed("first"))).toBe(id);
    const [first] = await pendingBatch(db, 10);
    expect(first.body).toMatchObject({ entity: "capture", entity_id: id, visit_id: ids.visit, base_version: 0 });
    expect(Object.keys((first.body as { fields: object }).fields).sort()).toEqual(["notes", "outcome", "signature_missing"]);

    expect(await recordCapture(db, ids.visit, completed("first"))).toBeNull(); // nothing changed
    await recordCapture(db, ids.visit, completed("second"), { submit: true });
    const batch = await pendingBatch(db, 10);
    expect(batch).toHaveLength(2);
    expect((batch[1].body as { fields: object; submit: boolean }).fields).toEqual({ notes: "second" });
    expect((batch[1].body as { submit: boolean }).submit).toBe(true);
    expect(batch[1].body.device_seq).toBeGreaterThan(batch[0].body.device_seq!);
    expect((await getDraft(db, id))?.submitted).toBe(true);
  });

  it("refuses an invalid form with the field's path and queues nothing", async () => {
    const bad: Capture = {
      outcome: "completed",
      incomes: [{ id: ids.income, kind: "wages", monthly_amount: -5 }],
    };
    const error = await recordCapture(db, ids.visit, bad).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidCapture);
    expect((error as InvalidCapture).errors.map((e) => e.path)).toContain("$.fields.incomes[0].monthly_amount");
    expect(await db.outbox.count()).toBe(0);
    expect(await db.drafts.count()).toBe(0);
  });

  it("drops an item only on its receipt; a rejection is parked and never blocks the rest", async () => {
    await recordCapture(db, ids.visit, completed("a"));
    await recordCapture(db, ids.visit2, completed("b"));
    await recordCapture(db, ids.visit3, completed("c"));
    const batch = await pendingBatch(db, 10);
    const results: MutationResult[] = [
      { index: 0, status: "applied", version: 1 },
      { index: 1, status: "rejected", errors: [{ path: "$.fields.notes", reason: "too long" }] },
      // no result for index 2: the answer was cut short, it stays and is sent again
    ];
    const summary = await acknowledge(db, batch, results, [{ visit_id: ids.visit, missing: ["a".repeat(64)] }], 1500);
    expect(summary).toEqual({ acknowledged: 1, duplicates: 0, conflicts: 0, rejected: 1 });
    const left = await pendingBatch(db, 10);
    expect(left.map((i) => i.mutation_id)).toEqual([batch[2].mutation_id]);
    const parked = await db.outbox.where("state").equals("rejected").toArray();
    expect(parked[0].result?.errors?.[0].path).toBe("$.fields.notes");
    expect(await db.receipts.count()).toBe(2);
    expect((await db.evidence.get(ids.visit))?.missing).toHaveLength(1);
    expect((await db.meta.get("clock_offset_ms"))?.value).toBe(1500);
  });

  it("recording again after a refusal replaces the refused items and resends their fields", async () => {
    await applyPage(db, visitPage());
    const id = (await recordCapture(db, ids.visit, completed("refused"), { submit: true }))!;
    const batch = await pendingBatch(db, 10);
    await acknowledge(db, batch, [{ index: 0, status: "rejected", errors: [{ path: "$.fields.notes", reason: "no" }] }], [], 0);
    expect(await unsent(db)).toMatchObject({ pending: 0, rejected: 1 });

    // the worker corrects only the notes: outcome and the signature reason must still go
    await recordCapture(db, ids.visit, completed("fixed"), { submit: true });
    const [resent] = await pendingBatch(db, 10);
    expect(Object.keys((resent.body as { fields: object }).fields).sort()).toEqual(["notes", "outcome", "signature_missing"]);
    expect(await unsent(db)).toMatchObject({ pending: 1, rejected: 0 });
    expect((await getDraft(db, id))?.submitted).toBe(true);

    // a refusal whose form the worker takes back to what the server has is simply dropped
    await acknowledge(db, [resent], [{ index: 0, status: "rejected", errors: [] }], [], 0);
    expect(await recordCapture(db, ids.visit, {})).toBeNull();
    expect(await unsent(db)).toMatchObject({ pending: 0, rejected: 0, total: 0 });
    expect((await getDraft(db, id))?.submitted).toBe(false);
  });

  it("refuses sign-out with the count while anything is unsent", async () => {
    await recordCapture(db, ids.visit, completed("a"));
    await addPhoto(db, { blob: jpeg(1000), kind: "house_outside", visitId: ids.visit });
    expect(await unsent(db)).toEqual({ pending: 1, rejected: 0, photos: 1, total: 2 });
    const error = await clearForSignOut(db).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnsentData);
    expect((error as UnsentData).unsent.total).toBe(2);
    expect(await db.outbox.count()).toBe(1);
    expect(await db.photos.count()).toBe(1);

    await db.outbox.clear();
    await db.photos.clear();
    await db.meta.put({ key: "device_id", value: ids.device });
    await clearForSignOut(db);
    expect(await db.meta.count()).toBe(0);
  });
});

describe("the visit list", () => {
  it("lists today's and unplanned visits in route order with their draft, outbox and evidence", async () => {
    const visit = (id: string, over: object) => ({
      kind: "visit" as const,
      id,
      version: 1,
      data: { id, household_id: ids.household, state: "assigned", version: 1, reason: "annual", due_on: "2026-12-31", ...over },
    });
    await applyPage(
      db,
      visitPage({
        items: [
          visit(ids.visit, { visit_on: "2026-12-04", route_order: 2 }),
          visit(ids.visit2, { visit_on: "2026-12-04", route_order: 1 }),
          visit(ids.visit3, { visit_on: "2026-12-05", route_order: 1 }),
          { kind: "household", id: ids.household, version: 1, data: { id: ids.household, code: "HH", head_name: "王", area_id: 1, residence: "rural", category: "general", status: "active", benefit_amount: 0, version: 1 } },
        ],
      }),
    );
    await recordCapture(db, ids.visit, completed("a"));
    await recordCapture(db, ids.visit2, completed("b"));
    const batch = await pendingBatch(db, 10);
    await acknowledge(db, batch, [{ index: 1, status: "rejected", errors: [] }], [{ visit_id: ids.visit, missing: ["a".repeat(64)] }], 0);

    const today = await listVisits(db, "2026-12-04");
    expect(today.map((v) => v.visit.id)).toEqual([ids.visit2, ids.visit]);
    expect(today.map((v) => [v.pending, v.rejected.length, v.missingPhotos.length])).toEqual([
      [0, 1, 0],
      [1, 0, 1],
    ]);
    expect(today.every((v) => v.household?.data.head_name === "王" && v.draft !== undefined)).toBe(true);
    expect((await listVisits(db)).map((v) => v.visit.id)).toEqual([ids.visit2, ids.visit, ids.visit3]);
  });
});

describe("feed pages", () => {
  it("stores a page with its cursor, removals take records away, the digest follows", async () => {
    await applyPage(db, visitPage({ has_more: true, cursor: "p1" }));
    expect((await db.meta.get("cursor"))?.value).toBe("p1");
    expect((await db.meta.get("synced_to_head"))?.value).toBe(false);
    const before = await stateDigest(db);
    await applyPage(db, {
      items: [{ kind: "visit", id: ids.visit, removed: true, reason: "reassigned" }],
      cursor: "p2",
      has_more: false,
      server_time: "2026-12-03T08:00:00Z",
      clock_offset_ms: -200,
    });
    expect(await db.visits.get(ids.visit)).toBeUndefined();
    expect(await stateDigest(db)).not.toBe(before);
    expect((await db.meta.get("synced_to_head"))?.value).toBe(true);
  });

  it("takes each pulled visit's evidence status over the last push answer's", async () => {
    const sha = "ab".repeat(32);
    await applyPage(db, visitPage());
    await db.evidence.put({ visit_id: ids.visit, missing: [sha, "cd".repeat(32)] }); // from a push answer
    const [visit] = visitPage().items;
    const listing = { ...visit, data: { ...(visit.data as object), missing_photos: [sha] } };
    await applyPage(db, { ...visitPage(), items: [listing] });
    expect((await db.evidence.get(ids.visit))?.missing).toEqual([sha]);
    await applyPage(db, visitPage()); // every photo stored: the list is empty, so omitted
    expect(await db.evidence.get(ids.visit)).toBeUndefined();
    await applyPage(db, { ...visitPage(), items: [listing] });
    await applyPage(db, { ...visitPage(), items: [{ kind: "visit", id: ids.visit, removed: true, reason: "cancelled" }] });
    expect(await db.evidence.get(ids.visit)).toBeUndefined();
  });

  it("keeps the draft of a removed capture while its edits wait in the outbox", async () => {
    const capture = { kind: "capture" as const, id: ids.capture, version: 2, data: { id: ids.capture, visit_id: ids.visit, version: 2, role: "primary", form: { notes: "server" } } };
    await applyPage(db, { ...visitPage(), items: [capture] });
    expect((await getDraft(db, ids.capture))?.form.notes).toBe("server");
    await recordCapture(db, ids.visit, { notes: "mine" }, { captureId: ids.capture });
    await applyPage(db, { ...visitPage(), items: [{ kind: "capture", id: ids.capture, removed: true, reason: "reassigned" }] });
    expect((await getDraft(db, ids.capture))?.form.notes).toBe("mine");
    // a supervisor's edit of another field arrives without wiping the worker's unrecorded typing
    await saveDraft(db, ids.visit, { notes: "typing" }, ids.capture);
    const edited = { ...capture, version: 3, data: { ...capture.data, version: 3, form: { notes: "server", outcome: "refused" } } };
    await applyPage(db, { ...visitPage(), items: [edited] });
    const draft = await getDraft(db, ids.capture);
    expect(draft?.form.notes).toBe("typing");
    expect(draft?.form.outcome).toBe("refused");
  });
});

describe("photos", () => {
  it("keeps the bytes with their SHA-256 and refuses what is not an image or too large", async () => {
    const blob = jpeg(5000);
    const photo = await addPhoto(db, { blob, kind: "document", visitId: ids.visit });
    const expected = createHash("sha256").update(Buffer.from(await blob.arrayBuffer())).digest("hex");
    expect(photo.sha256).toBe(expected);
    const stored = await db.photos.get(expected);
    expect(stored?.blob?.size).toBe(5000);
    expect(Buffer.from(await stored!.blob!.arrayBuffer()).equals(Buffer.from(await blob.arrayBuffer()))).toBe(true);
    // the same bytes again are the same photo
    await addPhoto(db, { blob: jpeg(5000), kind: "document", visitId: ids.visit });
    expect(await db.photos.count()).toBe(1);

    await expect(addPhoto(db, { blob: new Blob(["not an image"]), kind: "document", visitId: ids.visit })).rejects.toThrow(PhotoRefused);
    await expect(addPhoto(db, { blob: jpeg(2000), kind: "document", visitId: ids.visit }, 1000)).rejects.toThrow(/limit/);
  });
});
