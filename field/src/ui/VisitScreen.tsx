// One visit: the household as registered, the supervisor's comment when it came back, a server
// refusal of its data, and the capture form. Every change is saved as the draft at once; "save"
// and "submit" record it into the outbox after the tablet's own checks (fields named), so nothing
// the server would refuse for a range or an enum is ever sent.
import { useEffect, useRef, useState } from "preact/hooks";
import type { FieldApp } from "../app";
import type { ChangeReason, DeductionItem, FieldError, IncomeItem, Relation, Sex } from "../schema";
import {
  captureFor,
  getDraft,
  getHousehold,
  getMeta,
  getVisit,
  InvalidCapture,
  nowIso,
  photosForVisit,
  type PhotoRecord,
  recordCapture,
  saveDraft,
  uuid4,
} from "../store";
import type { SyncStatus } from "../sync";
import {
  addMember,
  amountTexts,
  type AmountTexts,
  DEPOSITS,
  checkForm,
  type Form,
  people,
  type Person,
  prefill,
  removeMember,
  section,
  setAmount,
  undoRemove,
  updateMember,
} from "./form";
import { go, useLive } from "./hooks";
import { fieldName, label, reasonText, t } from "./i18n";
import { Choice, PhotoInput, SignatureBox, Thumb } from "./parts";

const PHOTO_KINDS = ["house_outside", "house_inside", "document", "income_proof"] as const;
const LEAVING: ChangeReason[] = ["death", "moved_out", "marriage", "divorce", "other"];
const JOINING: ChangeReason[] = ["birth", "marriage", "moved_in", "other"];

export function VisitScreen({ app, visitId }: { app: FieldApp; visitId: string; status: SyncStatus }) {
  const data = useLive(async () => {
    const visit = await getVisit(app.db, visitId);
    const household = visit ? await getHousehold(app.db, visit.data.household_id) : undefined;
    const captureId = await captureFor(app.db, visitId);
    const draft = captureId ? await getDraft(app.db, captureId) : undefined;
    const outbox = await app.db.outbox.where("visit_id").equals(visitId).toArray();
    return {
      visit,
      household,
      draft,
      pending: outbox.filter((o) => o.state === "pending").length,
      rejected: outbox.filter((o) => o.state === "rejected"),
      me: (await getMeta(app.db, "display_name")) ?? (await getMeta(app.db, "username")) ?? "",
    };
  }, [app, visitId]);
  const photos = useLive(() => photosForVisit(app.db, visitId), [app, visitId]);
  if (!data) return <main class="visit loading" />;
  if (!data.visit) {
    return (
      <main class="visit">
        <button class="back" onClick={() => go("/")}>
          ← {t("back")}
        </button>
      </main>
    );
  }
  return <CaptureForm key={visitId} app={app} data={data as Loaded} photos={photos ?? []} />;
}

type Loaded = {
  visit: NonNullable<Awaited<ReturnType<typeof getVisit>>>;
  household: Awaited<ReturnType<typeof getHousehold>>;
  draft: Awaited<ReturnType<typeof getDraft>>;
  pending: number;
  rejected: import("../store").OutboxItem[];
  me: string;
};

function CaptureForm({ app, data, photos }: { app: FieldApp; data: Loaded; photos: PhotoRecord[] }) {
  const { visit, household } = data;
  const visitId = visit.id;
  const [form, setForm] = useState<Form>(() => (data.draft?.form as Form) ?? prefill(visit, household, nowIso()));
  const [texts, setTexts] = useState<AmountTexts>(() => amountTexts(form));
  const [errors, setErrors] = useState<FieldError[]>([]);
  // the last save or submit the tablet refused: its list is checked again on every change
  const [tried, setTried] = useState<boolean | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const captureId = useRef<string | undefined>(data.draft?.id);
  // the present member whose signature pad is open
  const [signing, setSigning] = useState<string | null>(null);
  const saving = useRef<Promise<unknown>>(Promise.resolve());
  // handed in and on the server: read only (until the supervisor returns it); a refused or unsent
  // capture can still be edited
  const locked = Boolean(data.draft?.submitted) && data.pending === 0 && !data.rejected.length && visit.data.state !== "returned";
  const byHash = new Map(photos.map((p) => [p.sha256, p]));
  const persons = people(household, form);
  const marked = new Set(errors.map((e) => section(e.path)));

  // the first opening makes the draft (pre-filled, with the time the visit started)
  useEffect(() => {
    if (!data.draft) save(form);
  }, []);

  function save(next: Form): void {
    saving.current = saving.current.then(async () => {
      captureId.current = await saveDraft(app.db, visitId, next, captureId.current);
    });
  }
  function update(next: Form, nextTexts: AmountTexts = texts): void {
    setForm(next);
    if (tried !== null) setErrors(checkForm(next, nextTexts, household, tried));
    setNotice(t("saved_draft"));
    save(next);
  }
  const refuse = (path: string, reason: string) => setErrors([{ path, reason }]);

  function typeAmount(id: string, text: string): void {
    const nextTexts = { ...texts, [id]: text };
    setTexts(nextTexts);
    const result = setAmount(form, id, text);
    if (!result.error) update(result.form, nextTexts);
    else if (tried !== null) setErrors(checkForm(form, nextTexts, household, tried));
  }

  async function record(submit: boolean): Promise<void> {
    const next: Form = submit ? { ...form, ended_at: nowIso() } : form;
    const problems = checkForm(next, texts, household, submit);
    setErrors(problems);
    if (problems.length) {
      setTried(submit);
      setNotice(null);
      return;
    }
    setTried(null);
    await saving.current;
    try {
      const id = await recordCapture(app.db, visitId, next, { captureId: captureId.current, submit });
      captureId.current = id ?? captureId.current;
      setForm(next);
      setNotice(submit ? t("submitted_wait") : t("recorded"));
      await app.engine.refresh();
      if (globalThis.navigator?.onLine !== false) void app.engine.sync();
      if (submit) go("/");
    } catch (exc) {
      if (exc instanceof InvalidCapture) setErrors(exc.errors);
      else throw exc;
    }
  }

  const member = (id: string) => form.members.find((m) => m.member_id === id);
  const incomesOf = (id: string | null) => form.incomes.filter((i) => (i.member_id ?? null) === id);
  const setIncome = (id: string, change: Partial<IncomeItem>) =>
    update({ ...form, incomes: form.incomes.map((i) => (i.id === id ? { ...i, ...change } : i)) });
  const setDeduction = (id: string, change: Partial<DeductionItem>) =>
    update({ ...form, deductions: form.deductions.map((d) => (d.id === id ? { ...d, ...change } : d)) });
  function addIncome(memberId: string | null): void {
    const line: IncomeItem = { id: uuid4(), kind: "wages", monthly_amount: 0, member_id: memberId, evidence: [] };
    setTexts({ ...texts, [line.id]: "" });
    const members = memberId ? form.members.map((m) => (m.member_id === memberId ? { ...m, no_income: false } : m)) : form.members;
    update({ ...form, members, incomes: [...form.incomes, line] });
  }
  function addDeduction(): void {
    const line: DeductionItem = { id: uuid4(), kind: "illness_cost", monthly_amount: 0, member_id: null, evidence: [] };
    setTexts({ ...texts, [line.id]: "" });
    update({ ...form, deductions: [...form.deductions, line] });
  }
  function amountError(id: string): string | null {
    const text = texts[id];
    if (text === undefined) return null;
    const r = setAmount(form, id, text);
    return r.error;
  }
  function leave(person: Person, reason: ChangeReason): void {
    if (person.relation === "head" && !person.added) {
      refuse("$.member_changes", t("head_cannot_leave"));
      return;
    }
    update(removeMember(form, person.id, reason));
  }
  function takeFix(): void {
    const geo = globalThis.navigator?.geolocation;
    if (!geo) return refuse("$.gps", t("gps_failed", { e: "—" }));
    setNotice(t("gps_taking"));
    geo.getCurrentPosition(
      (p) =>
        update({
          ...form,
          gps: {
            lat: p.coords.latitude,
            lon: p.coords.longitude,
            accuracy_m: Math.min(Math.round(p.coords.accuracy * 10) / 10, 100_000),
            at: new Date(p.timestamp || Date.now()).toISOString(),
          },
        }),
      (e) => refuse("$.gps", t("gps_failed", { e: e.message })),
      { enableHighAccuracy: true, timeout: 30_000, maximumAge: 60_000 },
    );
  }

  const amountInput = (id: string) => (
    <span class="amount">
      <input
        inputMode="decimal"
        class={amountError(id) ? "bad" : ""}
        value={texts[id] ?? ""}
        placeholder="0.00"
        disabled={locked}
        data-testid="amount"
        onInput={(e) => typeAmount(id, e.currentTarget.value)}
      />
      <span>{t("yuan")}</span>
      {amountError(id) && <em class="field-error">{reasonText(amountError(id)!)}</em>}
    </span>
  );
  // income evidence is an income proof, a deduction's a document (the kinds the server registers them as)
  const evidenceButton = (line: { id: string; evidence?: string[] }, kind: "income_proof" | "document", onAdd: (sha: string) => void) => (
    <span class="evidence">
      <PhotoInput
        app={app}
        visitId={visitId}
        kind={kind}
        testid="evidence"
        text={`${t("evidence")}${line.evidence?.length ? ` (${line.evidence.length})` : ""}`}
        disabled={locked}
        onRefused={refuse}
        onPhoto={(p) => {
          if (!line.evidence?.includes(p.sha256)) onAdd(p.sha256);
        }}
      />
    </span>
  );

  return (
    <main class={`visit ${locked ? "locked" : ""}`} data-testid="visit-screen">
      <div class="visit-head">
        <button class="back" data-testid="back" onClick={() => go("/")}>
          ← {t("back")}
        </button>
        <h1>
          {household?.data.head_name ?? "—"} <small>{household?.data.code}</small>
        </h1>
        <span class={`badge state-${visit.data.state}`}>{label("state", visit.data.state)}</span>
      </div>
      <p class="household-line">
        {t("address")}：{household?.data.address || "—"} · {t("phone")}：{household?.data.phone || "—"} · {t("category")}：
        {label("category", household?.data.category)} · {t("benefit")}：{((household?.data.benefit_amount ?? 0) / 100).toFixed(2)}{" "}
        {t("per_month")}
      </p>
      {visit.data.state === "returned" && visit.data.return_comment && (
        <p class="banner warn" data-testid="visit-return-comment">
          {t("returned_comment")}
          {visit.data.return_comment}
        </p>
      )}
      {data.rejected.length > 0 && (
        <div class="banner bad" role="alert" data-testid="visit-rejected">
          <strong>{t("server_refused")}</strong>
          <ul>
            {data.rejected.flatMap((item) =>
              (item.result?.errors ?? [{ path: "", reason: item.result?.status ?? "rejected" }]).map((e, i) => (
                <li key={`${item.mutation_id}-${i}`}>
                  {fieldName(e.path)} <code>{e.path}</code> {reasonText(e.reason)}
                </li>
              )),
            )}
          </ul>
        </div>
      )}
      {locked && (
        <p class="banner ok" data-testid="locked">
          {t("submitted_sent")}
        </p>
      )}

      <fieldset class={`card ${marked.has("outcome") ? "has-error" : ""}`} disabled={locked}>
        <legend>{t("sec_outcome")}</legend>
        <div class="segmented">
          {(["completed", "nobody_home", "moved_away", "deceased", "refused"] as const).map((o) => (
            <button
              key={o}
              type="button"
              class={form.outcome === o ? "on" : ""}
              aria-pressed={form.outcome === o}
              data-testid={`outcome-${o}`}
              onClick={() => update({ ...form, outcome: o })}
            >
              {label("outcome", o)}
            </button>
          ))}
        </div>
      </fieldset>

      <fieldset class="card" disabled={locked}>
        <legend>{t("sec_investigators")}</legend>
        <p>
          {t("investigator_me")}：<strong>{data.me}</strong>
        </p>
        <p data-testid="partner">
          {t("investigator_partner")}：
          <strong>{form.partner_id ? t("partner_planned", { id: form.partner_id.slice(0, 8) }) : t("no_partner")}</strong>
        </p>
      </fieldset>

      <fieldset class={`card ${marked.has("members") || marked.has("member_changes") ? "has-error" : ""}`} disabled={locked}>
        <legend>{t("sec_members")}</legend>
        {persons.map((person, i) => {
          const status = member(person.id);
          return (
            <div class={`member ${person.removed ? "removed" : ""}`} key={person.id} data-testid="member">
              <div class="member-name">
                <strong>{person.name}</strong> {label("relation", person.relation)} · {label("sex", person.sex)} · {person.birth_date}
                {person.added && <span class="badge draft">{t("added_member")}</span>}
              </div>
              {person.removed ? (
                <div class="row">
                  <span>{t("member_removed", { r: label("change_reason", person.removed) })}</span>
                  <button type="button" onClick={() => update(undoRemove(form, person.id))}>
                    {t("undo")}
                  </button>
                </div>
              ) : (
                <div class="grid">
                  <label class="check">
                    <input
                      type="checkbox"
                      checked={status?.present ?? false}
                      data-testid={`present-${i}`}
                      onChange={(e) => update(updateMember(form, person.id, { present: e.currentTarget.checked }))}
                    />
                    {t("present")}
                  </label>
                  <label>
                    {t("health")}
                    <Choice list="health" value={status?.health ?? "healthy"} onChange={(v) => update(updateMember(form, person.id, { health: (v ?? "healthy") as never }))} />
                  </label>
                  <label>
                    {t("disability")}
                    <select
                      value={status?.disability_grade ?? ""}
                      onChange={(e) =>
                        update(updateMember(form, person.id, { disability_grade: e.currentTarget.value ? Number(e.currentTarget.value) : null }))
                      }
                    >
                      <option value="">{t("none")}</option>
                      {[1, 2, 3, 4].map((g) => (
                        <option key={g} value={g}>
                          {t("grade_n", { n: g })}
                        </option>
                      ))}
                    </select>
                  </label>
                  <label>
                    {t("labour")}
                    <Choice
                      list="labour_capacity"
                      value={status?.labour_capacity ?? "full"}
                      onChange={(v) => update(updateMember(form, person.id, { labour_capacity: (v ?? "full") as never }))}
                    />
                  </label>
                  <label>
                    {t("employment")}
                    <Choice
                      list="employment"
                      value={status?.employment}
                      empty={t("not_stated")}
                      onChange={(v) => update(updateMember(form, person.id, { employment: v as never }))}
                    />
                  </label>
                  <label>
                    {person.added ? t("remove") : t("member_remove")}
                    <Choice
                      list="change_reason"
                      only={LEAVING}
                      value={null}
                      empty="—"
                      testid={`leave-${i}`}
                      onChange={(v) => v && leave(person, v as ChangeReason)}
                    />
                  </label>
                </div>
              )}
            </div>
          );
        })}
        <AddMember disabled={locked} onAdd={(p) => update(addMember(form, p))} />
      </fieldset>

      <fieldset class={`card ${marked.has("incomes") || marked.has("members") ? "has-error" : ""}`} disabled={locked}>
        <legend>{t("sec_incomes")}</legend>
        {[...persons.filter((p) => !p.removed).map((p) => ({ id: p.id as string | null, name: p.name })), { id: null, name: t("household_wide") }].map(
          (owner, oi) => {
            const lines = incomesOf(owner.id);
            const status = owner.id ? member(owner.id) : undefined;
            if (!owner.id && !lines.length) {
              return (
                <div class="income-owner" key="household">
                  <button type="button" onClick={() => addIncome(null)}>
                    + {t("income_add")}（{t("household_wide")}）
                  </button>
                </div>
              );
            }
            return (
              <div class="income-owner" key={owner.id ?? "household"} data-testid="income-owner">
                <div class="owner-name">
                  <strong>{owner.name}</strong>
                  {owner.id && (
                    <label class="check">
                      <input
                        type="checkbox"
                        checked={Boolean(status?.no_income) && !lines.length}
                        disabled={lines.length > 0}
                        data-testid={`no-income-${oi}`}
                        onChange={(e) => update(updateMember(form, owner.id!, { no_income: e.currentTarget.checked }))}
                      />
                      {t("no_income")}
                    </label>
                  )}
                </div>
                {lines.map((line) => (
                  <div class="line" key={line.id} data-testid="income">
                    <Choice list="income_kind" value={line.kind} onChange={(v) => v && setIncome(line.id, { kind: v as never })} />
                    {amountInput(line.id)}
                    {evidenceButton(line, "income_proof", (sha) => setIncome(line.id, { evidence: [...(line.evidence ?? []), sha] as never }))}
                    <button type="button" class="x" onClick={() => update({ ...form, incomes: form.incomes.filter((i) => i.id !== line.id) })}>
                      {t("remove")}
                    </button>
                  </div>
                ))}
                <button type="button" data-testid={`income-add-${oi}`} onClick={() => addIncome(owner.id)}>
                  + {t("income_add")}
                </button>
              </div>
            );
          },
        )}
      </fieldset>

      <fieldset class={`card ${marked.has("deductions") ? "has-error" : ""}`} disabled={locked}>
        <legend>{t("sec_deductions")}</legend>
        {form.deductions.map((line) => (
          <div class="line" key={line.id} data-testid="deduction">
            <Choice list="deduction_kind" value={line.kind} onChange={(v) => v && setDeduction(line.id, { kind: v as never })} />
            <select value={line.member_id ?? ""} onChange={(e) => setDeduction(line.id, { member_id: e.currentTarget.value || null })}>
              <option value="">{t("household_wide")}</option>
              {persons
                .filter((p) => !p.removed)
                .map((p) => (
                  <option key={p.id} value={p.id}>
                    {p.name}
                  </option>
                ))}
            </select>
            {amountInput(line.id)}
            {evidenceButton(line, "document", (sha) => setDeduction(line.id, { evidence: [...(line.evidence ?? []), sha] as never }))}
            <button type="button" class="x" onClick={() => update({ ...form, deductions: form.deductions.filter((d) => d.id !== line.id) })}>
              {t("remove")}
            </button>
          </div>
        ))}
        <button type="button" onClick={addDeduction}>
          + {t("deduction_add")}
        </button>
      </fieldset>

      <fieldset class={`card ${marked.has("assets") ? "has-error" : ""}`} disabled={locked}>
        <legend>{t("sec_assets")}</legend>
        <div class="grid">
          <label>
            {t("deposits")}
            <Choice
              list="deposits"
              value={form.assets?.deposits}
              empty={t("not_stated")}
              onChange={(v) => update({ ...form, assets: { ...form.assets, deposits: v as never } })}
            />
          </label>
          <label data-testid="deposits-amount">
            {t("deposits_amount")}
            {amountInput(DEPOSITS)}
          </label>
          {(
            [
              ["vehicles", "vehicles", 50],
              ["livestock_head", "livestock", 10000],
              ["farmland_mu", "farmland", 10000],
            ] as const
          ).map(([field, key, max]) => (
            <label key={field}>
              {t(key)}
              <input
                type="number"
                min={0}
                max={max}
                step={field === "farmland_mu" ? 0.1 : 1}
                inputMode="decimal"
                value={form.assets?.[field] ?? 0}
                onInput={(e) => {
                  const n = Number(e.currentTarget.value || 0);
                  update({ ...form, assets: { ...form.assets, [field]: field === "farmland_mu" ? n : Math.trunc(n) } });
                }}
              />
            </label>
          ))}
          {(["extra_housing", "commercial_property", "business"] as const).map((field) => (
            <label class="check" key={field}>
              <input
                type="checkbox"
                checked={Boolean(form.assets?.[field])}
                onChange={(e) => update({ ...form, assets: { ...form.assets, [field]: e.currentTarget.checked } })}
              />
              {t(field)}
            </label>
          ))}
        </div>
      </fieldset>

      <fieldset class={`card ${marked.has("living_conditions") ? "has-error" : ""}`} disabled={locked}>
        <legend>{t("sec_living")}</legend>
        <div class="grid">
          {(["food", "clothing", "housing", "daily_goods"] as const).map((field) => (
            <label key={field}>
              {t(field)}
              <input
                maxLength={500}
                value={form.living_conditions?.[field] ?? ""}
                onInput={(e) =>
                  update({ ...form, living_conditions: { ...form.living_conditions, [field]: e.currentTarget.value || null } })
                }
              />
            </label>
          ))}
        </div>
        <label>
          {t("notes")}
          <textarea maxLength={4000} value={form.notes} onInput={(e) => update({ ...form, notes: e.currentTarget.value })} />
        </label>
      </fieldset>

      <fieldset class={`card ${marked.has("gps") ? "has-error" : ""}`} disabled={locked}>
        <legend>{t("sec_gps")}</legend>
        <div class="row">
          <button type="button" class="big" data-testid="gps" onClick={takeFix}>
            {t("gps_take")}
          </button>
          <span data-testid="gps-fix">
            {form.gps
              ? t("gps_fix", { lat: form.gps.lat.toFixed(5), lon: form.gps.lon.toFixed(5), acc: form.gps.accuracy_m })
              : t("gps_none")}
          </span>
        </div>
      </fieldset>

      <fieldset class={`card ${marked.has("photos") ? "has-error" : ""}`} disabled={locked}>
        <legend>{t("sec_photos")}</legend>
        {PHOTO_KINDS.map((kind) => (
          <div class="photo-kind" key={kind}>
            <div class="row">
              <strong>{label("photo_kind", kind)}</strong>
              <PhotoInput
                app={app}
                visitId={visitId}
                kind={kind}
                disabled={locked}
                onRefused={refuse}
                onPhoto={(p) => {
                  if (!form.photos.some((x) => x.sha256 === p.sha256)) update({ ...form, photos: [...form.photos, { sha256: p.sha256, kind }] });
                }}
              />
            </div>
            <div class="thumbs">
              {form.photos
                .filter((p) => p.kind === kind)
                .map((p) => (
                  <Thumb
                    key={p.sha256}
                    record={byHash.get(p.sha256)}
                    onRemove={locked ? undefined : () => update({ ...form, photos: form.photos.filter((x) => x.sha256 !== p.sha256) })}
                  />
                ))}
            </div>
          </div>
        ))}
      </fieldset>

      <fieldset class={`card ${marked.has("head_signature") || marked.has("signature_missing") ? "has-error" : ""}`} disabled={locked}>
        <legend>{t("sec_signatures")}</legend>
        <strong>{t("sec_signature")}</strong>
        {form.head_signature ? (
          <div class="row">
            <Thumb record={byHash.get(form.head_signature)} whole />
            <span data-testid="signed">{t("signature_kept")}</span>
            <button type="button" onClick={() => update({ ...form, head_signature: null })}>
              {t("signature_clear")}
            </button>
          </div>
        ) : (
          !locked && (
            <SignatureBox
              app={app}
              visitId={visitId}
              onRefused={refuse}
              onSigned={(p) => update({ ...form, head_signature: p.sha256, signature_missing: null })}
            />
          )
        )}
        <label>
          {t("signature_missing")}
          <Choice
            list="signature_missing"
            value={form.signature_missing}
            empty="—"
            disabled={Boolean(form.head_signature)}
            testid="signature-missing"
            onChange={(v) => update({ ...form, signature_missing: v as never })}
          />
        </label>
        {persons
          .filter((p) => p.relation !== "head" && !p.removed && member(p.id)?.present)
          .map((p) => {
            const signed = form.photos.find((x) => x.kind === "signature" && x.member_id === p.id);
            return (
              <div class="member-signature" key={p.id} data-testid="member-signature">
                <div class="row">
                  <strong>{t("member_signature", { name: p.name })}</strong>
                  {signed ? (
                    <>
                      <Thumb record={byHash.get(signed.sha256)} whole />
                      {!locked && (
                        <button type="button" onClick={() => update({ ...form, photos: form.photos.filter((x) => x !== signed) })}>
                          {t("signature_clear")}
                        </button>
                      )}
                    </>
                  ) : (
                    !locked &&
                    signing !== p.id && (
                      <button type="button" onClick={() => setSigning(p.id)}>
                        {t("member_sign")}
                      </button>
                    )
                  )}
                </div>
                {signing === p.id && !signed && (
                  <SignatureBox
                    app={app}
                    visitId={visitId}
                    onRefused={refuse}
                    onSigned={(photo) => {
                      setSigning(null);
                      update({ ...form, photos: [...form.photos, { sha256: photo.sha256, kind: "signature", member_id: p.id }] });
                    }}
                  />
                )}
              </div>
            );
          })}
      </fieldset>

      {errors.length > 0 && (
        <div class="banner bad" role="alert" data-testid="form-errors">
          <strong>{t("fix_errors")}</strong>
          <ul>
            {errors.map((e, i) => (
              <li key={i}>
                {fieldName(e.path)} <code>{e.path}</code> {reasonText(e.reason)}
              </li>
            ))}
          </ul>
        </div>
      )}
      {!locked && (
        <div class="actions">
          <span class="notice" data-testid="notice">
            {notice}
          </span>
          <button class="big" data-testid="save" onClick={() => void record(false)}>
            {t("save")}
          </button>
          <button class="primary big" data-testid="submit" onClick={() => void record(true)}>
            {t("submit")}
          </button>
        </div>
      )}
    </main>
  );
}

function AddMember({ onAdd, disabled }: { onAdd: (p: { name: string; relation: Relation; sex: Sex; birth_date: string; reason: ChangeReason }) => void; disabled: boolean }) {
  const [open, setOpen] = useState(false);
  const [name, setName] = useState("");
  const [relation, setRelation] = useState<Relation>("child");
  const [sex, setSex] = useState<Sex>("female");
  const [birth, setBirth] = useState("");
  const [reason, setReason] = useState<ChangeReason>("birth");
  if (!open) {
    return (
      <button type="button" disabled={disabled} onClick={() => setOpen(true)}>
        + {t("member_add")}
      </button>
    );
  }
  const ok = name.trim().length > 0 && /^\d{4}-\d{2}-\d{2}$/.test(birth);
  return (
    <div class="member add">
      <div class="grid">
        <label>
          {t("name")}
          <input value={name} maxLength={100} onInput={(e) => setName(e.currentTarget.value)} />
        </label>
        <label>
          {t("relation")}
          <Choice list="relation" value={relation} onChange={(v) => setRelation((v ?? "other") as Relation)} />
        </label>
        <label>
          {t("sex")}
          <Choice list="sex" value={sex} onChange={(v) => setSex((v ?? "female") as Sex)} />
        </label>
        <label>
          {t("birth_date")}
          <input type="date" value={birth} onInput={(e) => setBirth(e.currentTarget.value)} />
        </label>
        <label>
          {t("reason")}
          <Choice list="change_reason" only={JOINING} value={reason} onChange={(v) => setReason((v ?? "other") as ChangeReason)} />
        </label>
      </div>
      <button
        type="button"
        class="primary"
        disabled={!ok}
        onClick={() => {
          onAdd({ name: name.trim(), relation, sex, birth_date: birth, reason });
          setOpen(false);
          setName("");
          setBirth("");
        }}
      >
        {t("add")}
      </button>
    </div>
  );
}
