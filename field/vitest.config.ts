// Unit tests of the store, outbox and sync engine in Node with fake-indexeddb (no browser).
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  test: {
    include: ["test/**/*.test.ts"],
    environment: "node",
    setupFiles: ["test/setup.ts"],
    globalSetup: ["test/live.ts"],
    // the engine tests share one live server: files run one after another
    fileParallelism: false,
    pool: "threads",
    testTimeout: 10_000,
  },
});
