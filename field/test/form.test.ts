// The capture form's tablet-side rules: pre-filled from the registry, amounts typed as yuan text
// become exact fen, and every refusal names the field before anything is queued.
import { describe, expect, it } from "vitest";
import type { HeldHousehold, HeldVisit } from "../src/store";
import { addMember, amountTexts, checkForm, DEPOSITS, people, prefill, removeMember, setAmount, updateMember } from "../src/ui/form";
import { fieldName, reasonText, setLang } from "../src/ui/i18n";
import { ids } from "./fixtures";

const head = "11111111-1111-4111-8111-111111111111";
const child = "22222222-2222-4222-8222-222222222222";

const visit: HeldVisit = {
  id: ids.visit,
  version: 1,
  data: {
    id: ids.visit,
    household_id: ids.household,
    state: "downloaded",
    version: 1,
    reason: "scheduled",
    due_on: "2026-12-31",
    partner_id: "33333333-3333-4333-8333-333333333333",
  },
};

const household: HeldHousehold = {
  id: ids.household,
  version: 1,
  data: {
    id: ids.household,
    code: "HH-1",
    head_name: "王一",
    area_id: 1,
    residence: "rural",
    category: "general",
    status: "active",
    benefit_amount: 56000,
    version: 1,
    members: [
      { id: head, name: "王一", relation: "head", id_number: "5201**********0011", sex: "male", birth_date: "1960-01-01", health: "often_ill", disability_grade: 2, employment: "farming" },
      { id: child, name: "王二", relation: "child", id_number: "5201**********0022", sex: "female", birth_date: "1990-01-01", employment: "nonsense" },
    ],
    incomes: [
      { kind: "wages", monthly_amount: 123456, member_id: child },
      { kind: "support", monthly_amount: 20000, member_id: null },
    ],
  },
};

const now = "2026-12-04T01:00:00.000Z";

describe("prefill", () => {
  it("lists every registered member and income, the partner and the start", () => {
    const form = prefill(visit, household, now);
    expect(form.partner_id).toBe(visit.data.partner_id);
    expect(form.started_at).toBe(now);
    expect(form.members.map((m) => [m.member_id, m.health, m.disability_grade, m.employment, m.no_income])).toEqual([
      [head, "often_ill", 2, "farming", false],
      [child, "healthy", null, null, false], // an employment the schema does not know is not guessed
    ]);
    expect(form.incomes.map((i) => [i.kind, i.monthly_amount, i.member_id])).toEqual([
      ["wages", 123456, child],
      ["support", 20000, null],
    ]);
    expect(new Set(form.incomes.map((i) => i.id)).size).toBe(2);
    expect(amountTexts(form)[form.incomes[0].id]).toBe("1234.56");
    expect(checkForm(form, amountTexts(form), household, false)).toEqual([]);
  });
});

describe("amounts", () => {
  const form = prefill(visit, household, now);
  const id = form.incomes[0].id;

  it.each([
    ["0.07", 7],
    ["12.5", 1250],
    ["1,234.50", 123450],
    ["100000", 10000000],
  ])("%s yuan is %i fen exactly", (text, fen) => {
    const result = setAmount(form, id, text);
    expect(result.error).toBeNull();
    expect(result.form.incomes[0].monthly_amount).toBe(fen);
  });

  it.each(["1.234", "-5", "1e3", "abc", ""])("%s is refused, the form keeps its amount, the field is named", (text) => {
    const result = setAmount(form, id, text);
    expect(result.error).not.toBeNull();
    expect(result.form).toBe(form);
    const errors = checkForm(form, { ...amountTexts(form), [id]: text }, household, false);
    expect(errors[0].path).toBe("$.incomes[0].monthly_amount");
  });
});

describe("checks before anything is queued", () => {
  const base = () => ({ ...prefill(visit, household, now), outcome: "completed" as const, signature_missing: "cannot_write" as const });

  it("a completed visit says for every member whether they have income", () => {
    const form = base(); // the child has wages; the head has nothing stated
    const errors = checkForm(form, amountTexts(form), household, true);
    expect(errors).toEqual([{ path: "$.members[0].no_income", reason: '王一: enter an income or tick "no income"' }]);
    const stated = updateMember(form, head, { no_income: true });
    expect(checkForm(stated, amountTexts(stated), household, true)).toEqual([]);
    // a household-wide income says nothing about any one member
    const none = { ...stated, incomes: stated.incomes.filter((i) => i.member_id === null) };
    expect(checkForm(none, amountTexts(none), household, true).map((e) => e.path)).toEqual(["$.members[1].no_income"]);
  });

  it("members who left need no income; added ones do", () => {
    let form = updateMember(base(), head, { no_income: true });
    form = removeMember(form, child, "moved_out");
    expect(people(household, form).find((p) => p.id === child)?.removed).toBe("moved_out");
    expect(checkForm(form, amountTexts(form), household, true)).toEqual([]);
    form = addMember(form, { name: "王三", relation: "grandchild", sex: "male", birth_date: "2026-05-01", reason: "birth" });
    expect(checkForm(form, amountTexts(form), household, true).map((e) => e.reason)).toEqual([
      '王三: enter an income or tick "no income"',
    ]);
    const added = form.member_changes.find((c) => c.change === "add")!.member_id;
    form = removeMember(form, added, "other"); // taking back an added person forgets them
    expect(form.members.some((m) => m.member_id === added)).toBe(false);
  });

  it("the head cannot be recorded as leaving", () => {
    const form = removeMember(updateMember(base(), head, { no_income: true }), head, "moved_out");
    expect(checkForm(form, amountTexts(form), household, false)).toContainEqual({
      path: "$.member_changes[0].member_id",
      reason: "the household head cannot be removed",
    });
  });

  it("submit needs an outcome, and a completed visit the head's signature or its reason", () => {
    const form = updateMember({ ...base(), signature_missing: null }, head, { no_income: true });
    expect(checkForm(form, amountTexts(form), household, true).map((e) => e.path)).toEqual(["$.head_signature"]);
    expect(checkForm(form, amountTexts(form), household, false)).toEqual([]); // a draft may lack it
    const blank = { ...form, outcome: null };
    expect(checkForm(blank, amountTexts(blank), household, true).map((e) => e.path)).toEqual(["$.outcome"]);
    const both = { ...form, head_signature: "a".repeat(64), signature_missing: "refused" as const };
    expect(checkForm(both, amountTexts(both), household, true).map((e) => e.path)).toEqual(["$.signature_missing"]);
  });

  it("deposits: the limit is judged on the amount, typed in yuan as exact fen; a band alone is refused", () => {
    const form = updateMember(base(), head, { no_income: true });
    const banded = { ...form, assets: { ...form.assets, deposits: "over_50k" as const } };
    expect(checkForm(banded, amountTexts(banded), household, true)).toEqual([
      { path: "$.assets.deposits_amount", reason: "the deposits amount: the property limit is judged on it" },
    ]);
    expect(checkForm(banded, amountTexts(banded), household, false)).toEqual([]); // a draft may lack it
    const typed = setAmount(banded, DEPOSITS, "53760.01");
    expect(typed.error).toBeNull();
    expect(typed.form.assets?.deposits_amount).toBe(5376001);
    expect(amountTexts(typed.form)[DEPOSITS]).toBe("53760.01");
    expect(checkForm(typed.form, amountTexts(typed.form), household, true)).toEqual([]);
    const bad = setAmount(typed.form, DEPOSITS, "53760.011");
    expect(bad.form.assets?.deposits_amount).toBe(5376001); // the form keeps its last amount
    expect(checkForm(bad.form, { ...amountTexts(bad.form), [DEPOSITS]: "53760.011" }, household, false)[0].path).toBe(
      "$.assets.deposits_amount",
    );
    expect(setAmount(typed.form, DEPOSITS, "").form.assets?.deposits_amount).toBeNull(); // cleared: not stated
    const none = { ...form, assets: { ...form.assets, deposits: "none" as const } };
    expect(checkForm(none, amountTexts(none), household, true)).toEqual([]);
  });

  it("the server's schema is checked too (ranges and enums), with its paths", () => {
    const form = updateMember(base(), head, { no_income: true, welfare_labour_days: 40 });
    expect(checkForm(form, amountTexts(form), household, true)).toContainEqual(
      expect.objectContaining({ path: "$.members[0].welfare_labour_days" }),
    );
  });
});

describe("words", () => {
  it("names the field and gives the reason in Chinese, or in English after the switch", () => {
    setLang("zh");
    expect(fieldName("$.incomes[1].monthly_amount")).toBe("收入（元/月） 第 2 项");
    expect(fieldName("$.mutations[0].fields.head_signature")).toBe("户主签名");
    expect(reasonText("at most two decimals (fen)")).toBe("最多两位小数（到分）");
    expect(reasonText('王一: enter an income or tick "no income"')).toBe("王一：请填写收入或勾选“无收入”");
    setLang("en");
    expect(fieldName("$.incomes[1].monthly_amount")).toBe("Incomes (yuan a month) #2");
    expect(reasonText("at most two decimals (fen)")).toBe("at most two decimals (fen)");
    setLang("zh");
  });
});
