// The sync engine against the real server (field/test/live_server.py): device registration,
// a first sync cut mid-way and resumed, receipts, a rejected item that does not block the
// queue, a lost answer resent as a duplicate, an expired token refreshed, the state check
// repairing a record the tablet lost, a reassigned visit whose capture is still delivered, and
// a revoked tablet told so in words while it keeps its unsent captures.
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { Api, Revoked } from "../src/api";
import type { TokenPair } from "../src/schema";
import { clearForSignOut, FieldDB, getMeta, recordCapture, setMeta, unsent, UnsentData } from "../src/store";
import { SyncEngine } from "../src/sync";

const live = inject("live");
const noWait = { sleep: async () => {}, backoff: { base: 0, factor: 1, cap: 0, attempts: 4 } };

async function asUser(username: string): Promise<(path: string, body?: unknown) => Promise<Response>> {
  const login = await fetch(`${live!.base_url}/auth/login`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username, password: live!.password }),
  });
  const { access_token } = (await login.json()) as TokenPair;
  return (path, body) =>
    fetch(`${live!.base_url}${path}`, {
      method: body === undefined ? "GET" : "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${access_token}` },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
}

describe.skipIf(!live)("sync engine against the real server", () => {
  let db: FieldDB;
  let api: Api;
  let engine: SyncEngine;
  const visits = live?.visits ?? [];

  beforeAll(async () => {
    db = new FieldDB("engine-worker1");
    api = new Api(db, { baseUrl: live!.base_url, ...noWait });
    engine = new SyncEngine(db, api, { pageLimit: 3 });
  });
  afterAll(async () => {
    await db.delete();
  });

  it("registers the tablet as a device at the first login", async () => {
    const user = await api.login("worker1", live!.password, "vitest tablet");
    expect(user?.username).toBe("worker1");
    expect(user?.device_id).toBe(await getMeta(db, "device_id"));
    expect(await getMeta(db, "device_secret")).toBeTruthy();
    expect(await getMeta(db, "refresh_token")).toBeTruthy();
  });

  it("resumes a first sync from the last page it stored", async () => {
    const first = await engine.pull(1);
    expect(first.upserts).toBe(3);
    expect(await getMeta(db, "synced_to_head")).toBe(false);
    const cursor = await getMeta(db, "cursor");
    expect(cursor).toBeTruthy();
    // the app was closed here; a new engine on the same database carries on from the cursor
    const again = new SyncEngine(db, new Api(db, { baseUrl: live!.base_url, ...noWait }), { pageLimit: 3 });
    const rest = await again.pull();
    expect(rest.upserts).toBeGreaterThanOrEqual(7);
    expect(await db.visits.count()).toBe(5);
    expect(await db.households.count()).toBe(5);
    expect(await getMeta(db, "reference")).toBeTruthy();
    expect((await engine.pull()).stateCheck).toBe("ok");
  });

  it("drops an outbox item only with its receipt, and keeps the clock offset and evidence status", async () => {
    const photo = "b".repeat(64);
    await recordCapture(db, visits[0].visit_id, { notes: "门口有狗", photos: [{ sha256: photo, kind: "house_outside" }] });
    const status = await engine.sync();
    expect(status.phase).toBe("idle");
    expect(status.unsent.pending).toBe(0);
    expect(await db.outbox.count()).toBe(0);
    const receipts = await db.receipts.toArray();
    expect(receipts.map((r) => r.status)).toEqual(["applied"]);
    expect(typeof (await getMeta(db, "clock_offset_ms"))).toBe("number");
    expect((await db.evidence.get(visits[0].visit_id))?.missing).toEqual([photo]);
    // the server's capture came back with the next pull and is what the draft is built on
    expect(await db.captures.count()).toBe(1);
  });

  it("parks a rejected item with the server's reasons and still sends the ones after it", async () => {
    // an item queued by an older app version that the server refuses
    await db.outbox.add({
      mutation_id: crypto.randomUUID(),
      entity: "capture",
      entity_id: crypto.randomUUID(),
      visit_id: visits[1].visit_id,
      body: {
        entity: "capture",
        mutation_id: crypto.randomUUID(),
        entity_id: crypto.randomUUID(),
        visit_id: visits[1].visit_id,
        base_version: 0,
        fields: { incomes: [{ id: crypto.randomUUID(), kind: "wages", monthly_amount: -1 }] },
      },
      state: "pending",
      attempts: 0,
      created_at: new Date().toISOString(),
      result: null,
    });
    await recordCapture(db, visits[2].visit_id, { notes: "后一条" });
    const summary = await engine.push();
    expect(summary).toMatchObject({ acknowledged: 1, rejected: 1 });
    const parked = await db.outbox.where("state").equals("rejected").toArray();
    expect(parked).toHaveLength(1);
    expect(parked[0].result?.errors?.[0].path).toContain("monthly_amount");
    expect(await db.outbox.where("state").equals("pending").count()).toBe(0);
    expect((await engine.push()).sent).toBe(0); // parked items are not resent
    await db.outbox.where("state").equals("rejected").delete();
  });

  it("sends a batch again when its answer was lost; the server answers duplicate", async () => {
    let cut = true;
    const lossy: typeof fetch = async (input, init) => {
      const response = await fetch(input, init);
      if (cut && String(input).endsWith("/sync/push")) {
        cut = false;
        throw new TypeError("network connection lost"); // the server applied it; the answer never came
      }
      return response;
    };
    const flaky = new SyncEngine(db, new Api(db, { baseUrl: live!.base_url, fetch: lossy, ...noWait }));
    const id = await recordCapture(db, visits[3].visit_id, { notes: "答复丢失" });
    const summary = await flaky.push();
    expect(summary).toMatchObject({ acknowledged: 1, duplicates: 1 });
    expect(await db.outbox.count()).toBe(0);
    expect(id).toBeTruthy();
  });

  it("refreshes an expired access token once and carries on", async () => {
    await setMeta(db, "access_token", "expired.token.value");
    expect((await engine.pull()).pages).toBeGreaterThanOrEqual(1);
    expect(await getMeta(db, "access_token")).not.toBe("expired.token.value");
  });

  it("repairs exactly what the tablet lost after a state-check mismatch", async () => {
    await db.visits.delete(visits[4].visit_id);
    await setMeta(db, "digest", undefined);
    const summary = await engine.pull();
    expect(summary.stateCheck).toBe("repaired");
    expect(await db.visits.get(visits[4].visit_id)).toBeTruthy();
    expect((await engine.pull()).stateCheck).toBe("ok");
  });

  it("lets a reassigned visit leave while its unsent capture is still delivered", async () => {
    const sup = await asUser("sup1");
    const moved = visits[1].visit_id;
    const captureId = await recordCapture(db, moved, { notes: "改派前已采集" });
    const assign = await sup("/assignments/", { items: [{ visit_id: moved, worker_id: live!.user_ids.worker1b }] });
    expect(assign.status).toBe(200);
    await engine.pull();
    expect(await db.visits.get(moved)).toBeUndefined();
    expect((await db.drafts.get(captureId!))?.form.notes).toBe("改派前已采集"); // kept while unsent
    const summary = await engine.push();
    expect(summary.acknowledged).toBe(1);
    expect(await db.outbox.count()).toBe(0);
    const review = await sup(`/sync/visits/${moved}`);
    if (review.status === 200) {
      const body = (await review.json()) as { captures: { id: string }[] };
      expect(body.captures.map((c) => c.id)).toContain(captureId);
    }
  });

  it("tells a revoked tablet so in words and keeps its unsent captures", async () => {
    const own = await asUser("worker1");
    const deviceId = await getMeta(db, "device_id");
    expect((await own(`/devices/${deviceId}/revoke`, {})).status).toBe(200);
    await recordCapture(db, visits[2].visit_id, { notes: "停用后仍保存" });
    const status = await engine.sync();
    expect(status.phase).toBe("revoked");
    expect(status.message?.zh).toContain("停用");
    expect(status.message?.en).toContain("revoked");
    expect(await getMeta(db, "revoked")).toBe(true);
    expect((await unsent(db)).pending).toBe(1);
    await expect(clearForSignOut(db)).rejects.toThrow(UnsentData);
    // and it stays stopped: no request is made while revoked
    expect((await engine.sync()).phase).toBe("revoked");
    // signing in again is refused in words too: when and by whom
    await expect(api.login("worker1", live!.password)).rejects.toThrow(Revoked);
    await expect(api.login("worker1", live!.password)).rejects.toThrow(/was revoked on .* by /);
  });
});
