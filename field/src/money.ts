// Money: the worker types yuan as decimal text; the wire carries integer fen. The conversion is
// exact (string arithmetic, never a float): "12.5" → 1250, "0.07" → 7; three decimals, signs,
// exponents and anything else are refused with a reason.
export type YuanParse = { ok: true; fen: number } | { ok: false; reason: string };

/** The absurdity ceiling of schemas/base.py's Fen: 1,000,000 yuan a month. */
export const MAX_FEN = 100_000_000_00;

export function yuanToFen(text: string): YuanParse {
  const s = text.trim().replaceAll(",", "").replaceAll("，", "");
  if (s === "") return { ok: false, reason: "empty" };
  if (s.startsWith("-")) return { ok: false, reason: "must not be negative" };
  const m = /^(\d+)(?:\.(\d*))?$/.exec(s);
  if (!m) return { ok: false, reason: "not an amount in yuan (e.g. 1234.50)" };
  const decimals = m[2] ?? "";
  if (decimals.length > 2) return { ok: false, reason: "at most two decimals (fen)" };
  const fen = Number(m[1]) * 100 + Number((decimals + "00").slice(0, 2));
  if (!Number.isSafeInteger(fen) || fen > MAX_FEN) return { ok: false, reason: "over 1,000,000 yuan" };
  return { ok: true, fen };
}

/** 1250 → "12.50" (for pre-filling the form from the registry). */
export function fenToYuan(fen: number): string {
  const whole = Math.trunc(fen / 100);
  return `${whole}.${String(fen % 100).padStart(2, "0")}`;
}
