// The capture form's rules that live on the tablet, free of any screen: the form pre-filled from
// the registry, the amounts typed as yuan text, and the checks a worker sees before anything is
// queued (each names the field as the server would: `$.incomes[2].monthly_amount`).
import type { HeldHousehold, HeldVisit } from "../store";
import { fullForm, uuid4 } from "../store";
import { fenToYuan, yuanToFen } from "../money";
import {
  type Capture,
  type EmploymentStatus,
  type FieldError,
  type IncomeItem,
  type MemberAdd,
  type MemberRemove,
  type MemberStatus,
  validateCapture,
} from "../schema";

export type Form = Required<Capture>;

const EMPLOYMENT: EmploymentStatus[] = [
  "employed",
  "farming",
  "odd_jobs",
  "retired",
  "self_employed",
  "student",
  "unable",
  "unemployed",
];

/** The form of a visit not yet captured: the household's registered members and incomes. */
export function prefill(visit: HeldVisit, household: HeldHousehold | undefined, now: string): Form {
  const data = household?.data;
  const members: MemberStatus[] = (data?.members ?? []).map((m) => ({
    member_id: m.id,
    present: false,
    health: m.health ?? "healthy",
    disability_grade: m.disability_grade ?? null,
    labour_capacity: m.labour_capacity ?? "full",
    employment: EMPLOYMENT.includes(m.employment as EmploymentStatus) ? (m.employment as EmploymentStatus) : null,
    no_income: false,
  }));
  const incomes = (data?.incomes ?? []).map((line): IncomeItem => ({
    id: uuid4(),
    kind: line.kind,
    monthly_amount: line.monthly_amount,
    member_id: line.member_id ?? null,
    evidence: [],
    note: line.note ?? null,
  }));
  return fullForm({ partner_id: visit.data.partner_id ?? null, members, incomes, started_at: now });
}

/** A person of the household as the form shows them: registered, or added in this form. */
export interface Person {
  id: string;
  name: string;
  relation: string;
  sex: string;
  birth_date: string;
  added: boolean;
  /** The reason they left, when the form records them leaving. */
  removed: string | null;
}

export function people(household: HeldHousehold | undefined, form: Form): Person[] {
  const removed = new Map<string, string>();
  for (const c of form.member_changes) if (c.change === "remove") removed.set(c.member_id, c.reason);
  const out: Person[] = (household?.data.members ?? []).map((m) => ({
    id: m.id,
    name: m.name,
    relation: m.relation,
    sex: m.sex,
    birth_date: m.birth_date,
    added: false,
    removed: removed.get(m.id) ?? null,
  }));
  for (const c of form.member_changes) {
    if (c.change !== "add") continue;
    out.push({ id: c.member_id, name: c.name, relation: c.relation, sex: c.sex, birth_date: c.birth_date, added: true, removed: null });
  }
  return out;
}

export function addMember(form: Form, person: Omit<MemberAdd, "change" | "member_id">): Form {
  const id = uuid4();
  const change: MemberAdd = { change: "add", member_id: id, ...person };
  const status: MemberStatus = { member_id: id, present: true, health: "healthy", labour_capacity: "full", no_income: false };
  return { ...form, member_changes: [...form.member_changes, change], members: [...form.members, status] };
}

/** Record a registered member leaving, or take back an added one (with their incomes). */
export function removeMember(form: Form, memberId: string, reason: MemberRemove["reason"]): Form {
  const added = form.member_changes.some((c) => c.change === "add" && c.member_id === memberId);
  if (added) {
    return {
      ...form,
      member_changes: form.member_changes.filter((c) => c.member_id !== memberId),
      members: form.members.filter((m) => m.member_id !== memberId),
      incomes: form.incomes.filter((i) => i.member_id !== memberId),
      deductions: form.deductions.filter((d) => d.member_id !== memberId),
    };
  }
  const change: MemberRemove = { change: "remove", member_id: memberId, reason };
  return { ...form, member_changes: [...form.member_changes.filter((c) => c.member_id !== memberId), change] };
}

export function undoRemove(form: Form, memberId: string): Form {
  return { ...form, member_changes: form.member_changes.filter((c) => !(c.change === "remove" && c.member_id === memberId)) };
}

export function updateMember(form: Form, memberId: string, change: Partial<MemberStatus>): Form {
  const members = form.members.some((m) => m.member_id === memberId)
    ? form.members.map((m) => (m.member_id === memberId ? { ...m, ...change } : m))
    : [...form.members, { member_id: memberId, ...change }];
  return { ...form, members };
}

/** Yuan text of every amount being typed, by income or deduction id, and the household's
 * deposits under {@link DEPOSITS} (what the worker sees). */
export type AmountTexts = Record<string, string>;

/** The deposits amount's key among the amount texts (income and deduction ids are UUIDs). */
export const DEPOSITS = "deposits";

export function amountTexts(form: Form): AmountTexts {
  const out: AmountTexts = {};
  for (const line of [...form.incomes, ...form.deductions]) out[line.id] = fenToYuan(line.monthly_amount);
  const deposits = form.assets?.deposits_amount;
  out[DEPOSITS] = deposits == null ? "" : fenToYuan(deposits);
  return out;
}

/** The deposits amount from its yuan text; an empty text is "not stated" (the limit is judged
 * on the amount, so a band alone is refused at submit). */
function setDeposits(form: Form, text: string): { form: Form; error: string | null } {
  if (!text.trim()) return { form: { ...form, assets: { ...form.assets, deposits_amount: null } }, error: null };
  const parsed = yuanToFen(text);
  if (!parsed.ok) return { form, error: parsed.reason };
  return { form: { ...form, assets: { ...form.assets, deposits_amount: parsed.fen } }, error: null };
}

/**
 * Set the amount of income or deduction ``id`` from its yuan text: the form changes only when the
 * text is an exact amount; otherwise the reason is returned and the form keeps its last amount.
 */
export function setAmount(form: Form, id: string, text: string): { form: Form; error: string | null } {
  if (id === DEPOSITS) return setDeposits(form, text);
  const parsed = yuanToFen(text);
  if (!parsed.ok) return { form, error: parsed.reason };
  const fen = parsed.fen;
  return {
    form: {
      ...form,
      incomes: form.incomes.map((i) => (i.id === id ? { ...i, monthly_amount: fen } : i)),
      deductions: form.deductions.map((d) => (d.id === id ? { ...d, monthly_amount: fen } : d)),
    },
    error: null,
  };
}

/**
 * What the tablet refuses before anything is queued, with the field named: amounts that are not
 * exact yuan, a head recorded as leaving, and on submit the outcome, every member's income stated
 * (an income item or "no income": never an empty list that reads as zero) and the head's signature
 * or its reason; then everything the server's schema says (ranges, enums, lengths).
 */
export function checkForm(form: Form, texts: AmountTexts, household: HeldHousehold | undefined, submit: boolean): FieldError[] {
  const errors: FieldError[] = [];
  const lines = [
    ["incomes", form.incomes],
    ["deductions", form.deductions],
  ] as const;
  for (const [name, items] of lines) {
    items.forEach((line, i) => {
      const text = texts[line.id];
      if (text === undefined) return;
      const parsed = yuanToFen(text);
      if (!parsed.ok) errors.push({ path: `$.${name}[${i}].monthly_amount`, reason: parsed.reason });
    });
  }
  const depositsText = texts[DEPOSITS];
  if (depositsText !== undefined) {
    const error = setDeposits(form, depositsText).error;
    if (error) errors.push({ path: "$.assets.deposits_amount", reason: error });
  }
  const heads = new Set((household?.data.members ?? []).filter((m) => m.relation === "head").map((m) => m.id));
  form.member_changes.forEach((c, i) => {
    if (c.change === "remove" && heads.has(c.member_id)) {
      errors.push({ path: `$.member_changes[${i}].member_id`, reason: "the household head cannot be removed" });
    }
  });
  if (submit) {
    if (!form.outcome) errors.push({ path: "$.outcome", reason: "required to submit" });
    if (form.outcome === "completed") {
      const leaving = new Set(form.member_changes.filter((c) => c.change === "remove").map((c) => c.member_id));
      const earning = new Set(form.incomes.map((i) => i.member_id));
      const staying = people(household, form).filter((p) => !leaving.has(p.id));
      for (const person of staying) {
        const i = form.members.findIndex((m) => m.member_id === person.id);
        if (earning.has(person.id) || (i >= 0 && form.members[i].no_income)) continue;
        errors.push({
          path: i >= 0 ? `$.members[${i}].no_income` : `$.members`,
          reason: `${person.name}: enter an income or tick "no income"`,
        });
      }
      const band = form.assets?.deposits;
      if (band && band !== "none" && form.assets?.deposits_amount == null) {
        errors.push({ path: "$.assets.deposits_amount", reason: "the deposits amount: the property limit is judged on it" });
      }
      if (!form.head_signature && !form.signature_missing) {
        errors.push({ path: "$.head_signature", reason: "the head's signature or the reason it is missing" });
      }
    }
  }
  if (form.head_signature && form.signature_missing) {
    errors.push({ path: "$.signature_missing", reason: "give either the signature or the reason it is missing" });
  }
  return [...errors, ...validateCapture(form)];
}

/** The first part of an error path (`$.members[0].no_income` → `members`): which section to mark. */
export function section(path: string): string {
  const m = /^\$(?:\.mutations\[\d+\])?(?:\.fields)?\.([a-z_]+)/.exec(path);
  return m ? m[1] : "";
}
