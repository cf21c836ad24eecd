import type { PullResponse } from "../src/schema";

export const ids = {
  visit: "6f9619ff-8b86-4011-b42d-00cf4fc964f1",
  visit2: "6f9619ff-8b86-4011-b42d-00cf4fc964f2",
  visit3: "6f9619ff-8b86-4011-b42d-00cf4fc964f3",
  household: "0c3b5b0e-7e1a-4c38-9d60-5b0d6f4f0001",
  capture: "0c3b5b0e-7e1a-4c38-9d60-5b0d6f4f0002",
  income: "0c3b5b0e-7e1a-4c38-9d60-5b0d6f4f0003",
  mutation: "0c3b5b0e-7e1a-4c38-9d60-5b0d6f4f0004",
  device: "0c3b5b0e-7e1a-4c38-9d60-5b0d6f4f0005",
};

/** A JPEG-looking blob of ``size`` bytes (its first bytes are a JPEG's; distinct per size). */
export function jpeg(size: number): Blob {
  const bytes = new Uint8Array(size);
  bytes.set([0xff, 0xd8, 0xff, 0xe0]);
  for (let i = 4; i < size; i++) bytes[i] = (i * 31 + size) % 251;
  return new Blob([bytes], { type: "image/jpeg" });
}

export function visitPage(over: Partial<PullResponse> = {}): PullResponse {
  return {
    items: [
      {
        kind: "visit",
        id: ids.visit,
        version: 1,
        data: { id: ids.visit, household_id: ids.household, state: "assigned", version: 1, reason: "annual", due_on: "2026-12-31" },
      },
    ],
    cursor: "c1",
    has_more: false,
    server_time: "2026-12-03T08:00:00Z",
    clock_offset_ms: 0,
    ...over,
  };
}
