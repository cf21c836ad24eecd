import { describe, expect, it } from "vitest";
import { digest } from "../src/store/digest";

// The values sync/digest.py computes for the same input (the server compares the two).
describe("state digest", () => {
  it("is the empty store's digest", async () => {
    expect(await digest([])).toBe("e3b0c44298fc1c149afbf4c8996fb924");
  });

  it("matches sync/digest.py in any order, ids in any case", async () => {
    const items: Parameters<typeof digest>[0] = [
      ["visit", "6F9619FF-8B86-D011-B42D-00CF4FC964FF", 3],
      ["household", "00000000-0000-4000-8000-000000000001", 12],
      ["capture", "00000000-0000-4000-8000-000000000002", 1],
    ];
    expect(await digest(items)).toBe("3019c06a345546b8852ca7c5bd22a455");
    expect(await digest([...items].reverse())).toBe("3019c06a345546b8852ca7c5bd22a455");
    expect(await digest(items.slice(1))).not.toBe("3019c06a345546b8852ca7c5bd22a455");
  });
});
