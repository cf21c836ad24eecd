// The screens' words: Chinese first, English by the switch in the header. One catalog, keyed by
// message name; code lists (outcomes, relations...) have their own entries so the form is labelled
// before the first sync brings the server's reference data.
import { useEffect, useState } from "preact/hooks";

export type Lang = "zh" | "en";
type Entry = { zh: string; en: string };

const M = {
  app_title: { zh: "入户复核", en: "Household recheck" },
  sign_in: { zh: "登录", en: "Sign in" },
  signing_in: { zh: "正在登录…", en: "Signing in…" },
  username: { zh: "用户名", en: "Username" },
  password: { zh: "密码", en: "Password" },
  sign_in_hint: {
    zh: "第一次登录时，这台平板会登记为您的设备。之后没有网络也能工作。",
    en: "At the first sign-in this tablet registers as your device. After that it works without a network.",
  },
  bad_login: { zh: "用户名或密码不正确。", en: "Wrong username or password." },
  no_server: { zh: "连不上服务器，请在有网络的地方登录。", en: "The server cannot be reached: sign in where there is a network." },
  sign_out: { zh: "退出登录", en: "Sign out" },
  sign_out_refused: {
    zh: "还有 {n} 项没有发送到服务器，不能退出。请先同步。",
    en: "{n} item(s) are not yet on the server: sign-out is refused. Sync first.",
  },
  sign_out_confirm: { zh: "确定退出？平板上的任务将被清除。", en: "Sign out? The visits on this tablet are removed." },
  today: { zh: "今日走访", en: "Today's visits" },
  no_visits: { zh: "今天没有分配的走访。同步后再看。", en: "No visits for today. Sync and look again." },
  unsent: { zh: "未发送", en: "Unsent" },
  unsent_n: { zh: "未发送 {n} 项", en: "{n} unsent" },
  all_sent: { zh: "全部已发送", en: "All sent" },
  sync_now: { zh: "立即同步", en: "Sync now" },
  syncing: { zh: "正在同步…", en: "Syncing…" },
  phase_idle: { zh: "已同步", en: "Synced" },
  phase_never: { zh: "尚未同步", en: "Not synced yet" },
  last_sync: { zh: "上次同步 {t}", en: "Last sync {t}" },
  offline_now: { zh: "离线", en: "Offline" },
  revoked_title: { zh: "平板已停用", en: "Tablet revoked" },
  route_no: { zh: "第 {n} 站", en: "Stop {n}" },
  due: { zh: "截止 {d}", en: "Due {d}" },
  members_n: { zh: "{n} 人", en: "{n} people" },
  draft: { zh: "草稿", en: "Draft" },
  submitted: { zh: "已提交", en: "Submitted" },
  waiting_send: { zh: "待发送 {n}", en: "{n} to send" },
  photos_missing: { zh: "{n} 张照片待上传", en: "{n} photo(s) to upload" },
  rejected: { zh: "服务器拒绝", en: "Refused by the server" },
  returned: { zh: "已退回", en: "Returned" },
  returned_comment: { zh: "主管退回意见：", en: "Supervisor's comment: " },
  storage: { zh: "存储空间", en: "Storage" },
  storage_line: { zh: "已用 {used}，剩余 {free}", en: "{used} used, {free} free" },
  storage_persisted: { zh: "数据已设为持久保存", en: "Data kept persistently" },
  storage_not_persisted: { zh: "浏览器未承诺持久保存数据", en: "The browser has not promised to keep the data" },
  storage_low: {
    zh: "存储空间不足！请尽快联网同步，上传照片后才能释放空间。",
    en: "Storage is running low! Sync soon: photos free their room once uploaded.",
  },
  update_ready: { zh: "有新版本，点此更新", en: "A new version is ready: tap to update" },
  back: { zh: "返回列表", en: "Back to list" },
  household: { zh: "户主", en: "Head" },
  address: { zh: "地址", en: "Address" },
  phone: { zh: "电话", en: "Phone" },
  category: { zh: "类别", en: "Category" },
  benefit: { zh: "月保障金", en: "Monthly benefit" },
  yuan: { zh: "元", en: "yuan" },
  per_month: { zh: "元/月", en: "yuan/month" },
  sec_outcome: { zh: "走访结果", en: "Outcome" },
  sec_investigators: { zh: "调查人员", en: "Investigators" },
  investigator_me: { zh: "调查员（本人）", en: "Investigator (you)" },
  investigator_partner: { zh: "同行调查员", en: "Partner" },
  partner_planned: { zh: "主管已安排（编号 {id}）", en: "planned by the supervisor (no. {id})" },
  no_partner: { zh: "未安排同行调查员", en: "No partner planned" },
  sec_members: { zh: "家庭成员", en: "Members" },
  present: { zh: "在场", en: "Present" },
  relation: { zh: "关系", en: "Relation" },
  health: { zh: "健康", en: "Health" },
  disability: { zh: "残疾等级", en: "Disability grade" },
  none: { zh: "无", en: "none" },
  grade_n: { zh: "{n} 级", en: "grade {n}" },
  labour: { zh: "劳动能力", en: "Labour capacity" },
  employment: { zh: "就业", en: "Employment" },
  not_stated: { zh: "未填", en: "not stated" },
  member_remove: { zh: "登记移出", en: "Record leaving" },
  member_removed: { zh: "已移出：{r}", en: "Left: {r}" },
  undo: { zh: "撤销", en: "Undo" },
  head_cannot_leave: { zh: "户主不能移出，请先更正户主。", en: "The head cannot be removed: correct the head first." },
  member_add: { zh: "新增成员", en: "Add member" },
  name: { zh: "姓名", en: "Name" },
  sex: { zh: "性别", en: "Sex" },
  birth_date: { zh: "出生日期", en: "Birth date" },
  reason: { zh: "原因", en: "Reason" },
  add: { zh: "添加", en: "Add" },
  remove: { zh: "删除", en: "Remove" },
  added_member: { zh: "新增", en: "new" },
  sec_incomes: { zh: "收入（元/月）", en: "Incomes (yuan a month)" },
  registered: { zh: "登记", en: "registered" },
  income_add: { zh: "添加收入", en: "Add income" },
  no_income: { zh: "无收入", en: "No income" },
  income_unstated: { zh: "请填写收入或勾选“无收入”", en: "Enter an income or tick “No income”" },
  amount: { zh: "金额（元）", en: "Amount (yuan)" },
  kind: { zh: "类型", en: "Kind" },
  evidence: { zh: "证明照片", en: "Evidence photo" },
  sec_deductions: { zh: "刚性支出扣减", en: "Deductions" },
  deduction_add: { zh: "添加扣减", en: "Add deduction" },
  household_wide: { zh: "全户", en: "whole household" },
  sec_assets: { zh: "家庭财产", en: "Assets" },
  deposits: { zh: "存款", en: "Deposits" },
  deposits_amount: { zh: "存款金额（元）", en: "Deposits (yuan)" },
  vehicles: { zh: "车辆（辆）", en: "Vehicles" },
  extra_housing: { zh: "有其他住房", en: "Other housing" },
  commercial_property: { zh: "有商铺", en: "Commercial property" },
  business: { zh: "经营企业或个体户", en: "Runs a business" },
  livestock: { zh: "牲畜（头）", en: "Livestock (head)" },
  farmland: { zh: "耕地（亩）", en: "Farmland (mu)" },
  sec_living: { zh: "生活状况", en: "Living conditions" },
  food: { zh: "吃", en: "Food" },
  clothing: { zh: "穿", en: "Clothing" },
  housing: { zh: "住", en: "Housing" },
  daily_goods: { zh: "用", en: "Daily goods" },
  notes: { zh: "备注", en: "Notes" },
  sec_gps: { zh: "定位", en: "Location" },
  gps_take: { zh: "获取定位", en: "Get location" },
  gps_taking: { zh: "正在定位…", en: "Locating…" },
  gps_fix: { zh: "{lat}, {lon}（精度 {acc} 米）", en: "{lat}, {lon} (±{acc} m)" },
  gps_none: { zh: "尚未定位", en: "No fix yet" },
  gps_failed: { zh: "定位失败：{e}", en: "No location: {e}" },
  sec_photos: { zh: "照片", en: "Photos" },
  take_photo: { zh: "拍照", en: "Take photo" },
  photo_uploaded: { zh: "已上传", en: "uploaded" },
  photo_waiting: { zh: "待上传", en: "to upload" },
  sec_signature: { zh: "户主签名", en: "Head's signature" },
  sec_signatures: { zh: "签名", en: "Signatures" },
  member_signature: { zh: "{name} 签名", en: "{name}'s signature" },
  member_sign: { zh: "请其签名", en: "Sign" },
  sign_here: { zh: "请户主在框内签名", en: "The head signs in the box" },
  signature_clear: { zh: "重签", en: "Clear" },
  signature_keep: { zh: "确认签名", en: "Keep signature" },
  signature_kept: { zh: "已签名", en: "Signed" },
  signature_empty: { zh: "签名框是空的", en: "The signature box is empty" },
  signature_missing: { zh: "户主无法签名的原因", en: "Why the head has not signed" },
  save: { zh: "保存", en: "Save" },
  submit: { zh: "提交", en: "Submit" },
  saved_draft: { zh: "草稿已自动保存", en: "Draft saved" },
  recorded: { zh: "已保存，等待发送", en: "Saved: waiting to be sent" },
  submitted_wait: { zh: "已提交，等待发送", en: "Submitted: waiting to be sent" },
  submitted_sent: { zh: "已提交并发送到服务器", en: "Submitted and on the server" },
  fix_errors: { zh: "请先改正以下问题（未发送任何数据）：", en: "Fix these first (nothing was sent):" },
  server_refused: { zh: "服务器拒绝了这次走访的数据：", en: "The server refused this visit's data:" },
  photo_refused: { zh: "照片不能用：{r}", en: "Photo refused: {r}" },
  language: { zh: "English", en: "中文" },
  choose: { zh: "请选择", en: "Choose" },
  yes: { zh: "是", en: "yes" },
} satisfies Record<string, Entry>;

export type MessageKey = keyof typeof M;

/** Labels of the code lists, used until (and where) the server's reference data has none. */
const CODES: Record<string, Record<string, Entry>> = {
  outcome: {
    completed: { zh: "完成入户", en: "completed" },
    nobody_home: { zh: "无人在家", en: "nobody home" },
    moved_away: { zh: "已搬走", en: "moved away" },
    deceased: { zh: "已去世", en: "deceased" },
    refused: { zh: "拒绝调查", en: "refused" },
  },
  relation: {
    head: { zh: "户主", en: "head" },
    spouse: { zh: "配偶", en: "spouse" },
    child: { zh: "子女", en: "child" },
    child_in_law: { zh: "儿媳/女婿", en: "child-in-law" },
    parent: { zh: "父母", en: "parent" },
    grandparent: { zh: "祖父母", en: "grandparent" },
    grandchild: { zh: "孙子女", en: "grandchild" },
    sibling: { zh: "兄弟姐妹", en: "sibling" },
    other: { zh: "其他", en: "other" },
  },
  sex: { male: { zh: "男", en: "male" }, female: { zh: "女", en: "female" } },
  health: {
    healthy: { zh: "健康", en: "healthy" },
    often_ill: { zh: "体弱多病", en: "often ill" },
    seriously_ill: { zh: "重病", en: "seriously ill" },
  },
  labour_capacity: {
    full: { zh: "有劳动能力", en: "full" },
    partial: { zh: "部分丧失", en: "partial" },
    none: { zh: "无劳动能力", en: "none" },
  },
  employment: {
    employed: { zh: "受雇就业", en: "employed" },
    self_employed: { zh: "自主经营", en: "self-employed" },
    farming: { zh: "务农", en: "farming" },
    odd_jobs: { zh: "打零工", en: "odd jobs" },
    unemployed: { zh: "失业", en: "unemployed" },
    student: { zh: "在校学生", en: "student" },
    retired: { zh: "退休", en: "retired" },
    unable: { zh: "无法工作", en: "unable to work" },
  },
  change_reason: {
    birth: { zh: "出生", en: "birth" },
    death: { zh: "死亡", en: "death" },
    marriage: { zh: "结婚", en: "marriage" },
    divorce: { zh: "离婚", en: "divorce" },
    moved_in: { zh: "迁入", en: "moved in" },
    moved_out: { zh: "迁出", en: "moved out" },
    correction: { zh: "更正", en: "correction" },
    other: { zh: "其他", en: "other" },
  },
  income_kind: {
    wages: { zh: "工资性收入", en: "wages" },
    business: { zh: "经营性收入", en: "business" },
    property: { zh: "财产性收入", en: "property income" },
    support: { zh: "赡养费", en: "support" },
    pension: { zh: "养老金", en: "pension" },
    unemployment_benefit: { zh: "失业保险金", en: "unemployment benefit" },
    compensation: { zh: "赔偿金", en: "compensation" },
    gift: { zh: "赠与", en: "gift" },
    other: { zh: "其他收入", en: "other" },
    veteran_preferential: { zh: "优抚金", en: "veteran payment" },
    family_planning_reward: { zh: "计划生育奖励", en: "family-planning reward" },
    scholarship: { zh: "奖学金", en: "scholarship" },
    bravery_reward: { zh: "见义勇为奖励", en: "bravery reward" },
    social_assistance: { zh: "社会救助", en: "social assistance" },
    resident_basic_pension: { zh: "城乡居民基础养老金", en: "resident basic pension" },
  },
  deduction_kind: {
    disability_cost: { zh: "残疾刚性支出", en: "disability costs" },
    illness_cost: { zh: "重病医疗支出", en: "serious-illness costs" },
    job_cost: { zh: "就业必要成本", en: "job costs" },
  },
  deposits: {
    none: { zh: "无存款", en: "none" },
    under_10k: { zh: "1 万元以下", en: "under 10,000" },
    "10k_50k": { zh: "1–5 万元", en: "10,000–50,000" },
    over_50k: { zh: "5 万元以上", en: "over 50,000" },
  },
  photo_kind: {
    house_outside: { zh: "房屋外景", en: "house outside" },
    house_inside: { zh: "室内", en: "inside" },
    document: { zh: "证件材料", en: "documents" },
    income_proof: { zh: "收入证明", en: "income proof" },
    signature: { zh: "签名", en: "signature" },
    other: { zh: "其他", en: "other" },
  },
  signature_missing: {
    head_absent: { zh: "户主不在场", en: "head absent" },
    cannot_write: { zh: "不会写字", en: "cannot write" },
    refused: { zh: "拒绝签名", en: "refused to sign" },
    incapacitated: { zh: "无行为能力", en: "incapacitated" },
    deceased: { zh: "户主已去世", en: "head deceased" },
    other: { zh: "其他原因", en: "other" },
  },
  category: {
    three_no: { zh: "三无", en: "three no" },
    extreme_hardship: { zh: "特困", en: "extreme hardship" },
    general: { zh: "一般", en: "general" },
  },
  state: {
    planned: { zh: "待分配", en: "planned" },
    assigned: { zh: "待走访", en: "to visit" },
    downloaded: { zh: "已下载", en: "on tablet" },
    submitted: { zh: "已提交", en: "submitted" },
    returned: { zh: "已退回", en: "returned" },
    accepted: { zh: "已通过", en: "accepted" },
    cancelled: { zh: "已取消", en: "cancelled" },
  },
};

export type CodeList = keyof typeof CODES;

/** Chinese for the reasons the tablet's own checks and the money parser give (English as given). */
const REASONS: Array<[RegExp, string]> = [
  [/^empty$/, "请填写金额"],
  [/^must not be negative$/, "金额不能为负数"],
  [/^not an amount in yuan.*$/, "不是有效的金额（例如 1234.50）"],
  [/^at most two decimals.*$/, "最多两位小数（到分）"],
  [/^over 1,000,000 yuan$/, "超过 100 万元"],
  [/^required to submit$/, "提交前必须填写"],
  [/^the household head cannot be removed$/, "户主不能移出"],
  [/^(.*): enter an income or tick "no income"$/, "$1：请填写收入或勾选“无收入”"],
  [/^the deposits amount: the property limit is judged on it$/, "请填写存款金额：按金额判断是否超过财产限额"],
  [/^required with a deposits band: the property limit is judged on the amount$/, "请填写存款金额：按金额判断是否超过财产限额"],
  [/^outside the band (.*)$/, "与所选存款档次（$1）不符"],
  [/^the head's signature or the reason it is missing$/, "需要户主签名，或选择无法签名的原因"],
  [/^give either the signature or the reason it is missing$/, "签名和无法签名的原因只能选一项"],
  [/^not a member of this household.*$/, "不是本户成员"],
  [/^already a member of this household$/, "已是本户成员"],
  [/^listed twice$/, "重复填写"],
  [/^before started_at$/, "早于走访开始时间"],
  [/^a visit cannot last more than 16 hours$/, "一次走访不能超过 16 小时"],
  [/^required$/, "必填"],
  [/^must be one of (.*)$/, "取值不在允许范围内：$1"],
];

/** A check's reason in the current language. */
export function reasonText(reason: string): string {
  if (current === "en") return reason;
  for (const [pattern, zh] of REASONS) if (pattern.test(reason)) return reason.replace(pattern, zh);
  return reason;
}

const FIELDS: Record<string, Entry> = {
  outcome: M.sec_outcome,
  partner_id: M.investigator_partner,
  members: M.sec_members,
  member_changes: M.sec_members,
  incomes: M.sec_incomes,
  deductions: M.sec_deductions,
  assets: M.sec_assets,
  living_conditions: M.sec_living,
  notes: M.notes,
  gps: M.sec_gps,
  photos: M.sec_photos,
  head_signature: M.sec_signature,
  signature_missing: M.signature_missing,
};

/** ``$.incomes[1].monthly_amount`` → "收入（元/月） 第 2 项" : the field in words, beside its path. */
export function fieldName(path: string): string {
  const m = /^\$(?:\.mutations\[\d+\])?(?:\.fields)?\.([a-z_]+)(?:\[(\d+)\])?/.exec(path);
  if (!m) return "";
  const name = FIELDS[m[1]]?.[current] ?? m[1];
  if (m[2] === undefined) return name;
  return current === "zh" ? `${name} 第 ${Number(m[2]) + 1} 项` : `${name} #${Number(m[2]) + 1}`;
}

const KEY = "recheck-field-lang";
let current: Lang = (globalThis.localStorage?.getItem(KEY) as Lang | null) ?? "zh";
const listeners = new Set<(lang: Lang) => void>();

export function getLang(): Lang {
  return current;
}

export function setLang(lang: Lang): void {
  current = lang;
  globalThis.localStorage?.setItem(KEY, lang);
  if (globalThis.document) document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  listeners.forEach((l) => l(lang));
}

/** The message in the current language, with ``{name}`` placeholders filled in. */
export function t(key: MessageKey, vars: Record<string, string | number> = {}): string {
  let text: string = M[key][current];
  for (const [name, value] of Object.entries(vars)) text = text.replaceAll(`{${name}}`, String(value));
  return text;
}

/** The label of one code (``label("outcome", "completed")``); the code itself when unknown. */
export function label(list: CodeList, code: string | null | undefined): string {
  if (!code) return "";
  return CODES[list]?.[code]?.[current] ?? code;
}

/** The codes of a list, in catalog order. */
export function codes(list: CodeList): string[] {
  return Object.keys(CODES[list] ?? {});
}

/** Either language of a pair the engine gives (status messages). */
export function pick(message: Entry | null | undefined): string {
  return message ? message[current] : "";
}

/** Re-render when the language is switched. */
export function useLang(): Lang {
  const [lang, set] = useState(current);
  useEffect(() => {
    listeners.add(set);
    return () => void listeners.delete(set);
  }, []);
  return lang;
}
