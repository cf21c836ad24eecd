// The state-check digest, computed exactly as sync/digest.py does: SHA-256 over the sorted
// "kind:idhex:version" lines (each followed by a newline), first 32 hex digits.
export type HeldEntry = [kind: "visit" | "household" | "capture", id: string, version: number];

export function hex(bytes: ArrayBuffer): string {
  return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
}

export async function digest(items: HeldEntry[]): Promise<string> {
  const lines = items.map(([kind, id, version]) => `${kind}:${id.replaceAll("-", "").toLowerCase()}:${version}`);
  // code-unit order, as Python sorts these ASCII strings
  lines.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const text = lines.map((line) => line + "\n").join("");
  return hex(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text))).slice(0, 32);
}
