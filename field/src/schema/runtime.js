// ESM versions of the two helpers Ajv's standalone validator (validate.js) needs, which Ajv
// itself ships only as CommonJS: string length in code points (as msgspec counts max_length),
// and the RFC 3339 "date" and "date-time" formats (time zone required), after ajv-formats' full
// formats (MIT).

export function ucs2length(text) {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

const DATE = /^(\d\d\d\d)-(\d\d)-(\d\d)$/;
const DAYS = [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const TIME = /^(\d\d):(\d\d):(\d\d(?:\.\d+)?)(z|([+-])(\d\d)(?::?(\d\d))?)?$/i;

function date(text) {
  const m = DATE.exec(text);
  if (!m) return false;
  const [year, month, day] = [+m[1], +m[2], +m[3]];
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  return month >= 1 && month <= 12 && day >= 1 && day <= (month === 2 && leap ? 29 : DAYS[month]);
}

function time(text) {
  const m = TIME.exec(text);
  if (!m || !m[4]) return false;
  const [hr, min, sec] = [+m[1], +m[2], +m[3]];
  const sign = m[5] === "-" ? -1 : 1;
  const [tzH, tzM] = [+(m[6] || 0), +(m[7] || 0)];
  if (tzH > 23 || tzM > 59) return false;
  if (hr <= 23 && min <= 59 && sec < 60) return true;
  const utcMin = min - tzM * sign; // a leap second
  const utcHr = hr - tzH * sign - (utcMin < 0 ? 1 : 0);
  return (utcHr === 23 || utcHr === -1) && (utcMin === 59 || utcMin === -1) && sec < 61;
}

function dateTime(text) {
  const parts = text.split(/t|\s/i);
  return parts.length === 2 && date(parts[0]) && time(parts[1]);
}

export const fullFormats = { date: { validate: date }, "date-time": { validate: dateTime } };
