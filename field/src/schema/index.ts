// The wire contract as the tablet uses it: the generated types, the capture defaults and the
// offline validator compiled from the same JSON Schema the server's msgspec Structs export.
import * as validators from "./validate.js";
import type { SchemaError, Validator } from "./validate.js";

export * from "./types";
export * from "./defaults";

/** One problem with one field, as the server reports it (``$.fields.incomes[0].monthly_amount``). */
export interface FieldError {
  path: string;
  reason: string;
}

/** ``/fields/incomes/0/kind`` → ``$.fields.incomes[0].kind`` (the server's path style). */
export function toPath(pointer: string, prefix = "$"): string {
  let path = prefix;
  for (const raw of pointer.split("/").slice(1)) {
    const part = raw.replaceAll("~1", "/").replaceAll("~0", "~");
    path += /^\d+$/.test(part) ? `[${part}]` : `.${part}`;
  }
  return path;
}

function reason(e: SchemaError): string {
  if (e.keyword === "required") return "required";
  if (e.keyword === "additionalProperties") return `unknown field ${String(e.params.additionalProperty)}`;
  if (e.keyword === "enum") return `must be one of ${(e.params.allowedValues as unknown[]).join(", ")}`;
  return e.message ?? e.keyword;
}

function run(validator: Validator, value: unknown, prefix: string): FieldError[] {
  if (validator(value)) return [];
  const seen = new Set<string>();
  const out: FieldError[] = [];
  for (const e of validator.errors ?? []) {
    // an anyOf reports every branch; the branch errors above it say more
    if (e.keyword === "anyOf") continue;
    const path =
      e.keyword === "required"
        ? toPath(`${e.instancePath}/${String(e.params.missingProperty)}`, prefix)
        : e.keyword === "additionalProperties"
          ? toPath(`${e.instancePath}/${String(e.params.additionalProperty)}`, prefix)
          : toPath(e.instancePath, prefix);
    const item = { path, reason: reason(e) };
    const key = `${item.path} ${item.reason}`;
    if (!seen.has(key)) {
      seen.add(key);
      out.push(item);
    }
  }
  return out;
}

/** Check a whole capture form against the server's schema (paths start at ``$``). */
export const validateCapture = (form: unknown): FieldError[] => run(validators.Capture, form, "$");

/** Check a capture or household mutation exactly as the server's push decoder will. */
export function validateMutation(mutation: { entity: string }): FieldError[] {
  const v = mutation.entity === "household" ? validators.HouseholdMutation : validators.CaptureMutation;
  return run(v, mutation, "$");
}

export const validatePhotoRef = (ref: unknown): FieldError[] => run(validators.PhotoRef, ref, "$");
