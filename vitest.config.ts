import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Two cores: keep parallelism modest so integration tests against the shared PostgreSQL stay fast.
    maxWorkers: 2,
    testTimeout: 30_000,
  },
});
