import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { BUDGET, buildWorker, measure } from "../../scripts/bundle-size.ts";

const outdir = mkdtempSync(join(tmpdir(), "worker-bundle-test-"));
afterAll(() => rmSync(outdir, { recursive: true, force: true }));

describe("the Worker bundle (wrangler deploy --dry-run)", () => {
  it("builds from wrangler.toml and stays within its size budget", () => {
    buildWorker(outdir);
    const size = measure(outdir);
    expect(size.files).toEqual(["worker.js"]);
    expect(size.rawBytes).toBeLessThanOrEqual(BUDGET.rawBytes);
    expect(size.gzipBytes).toBeLessThanOrEqual(BUDGET.gzipBytes);
  }, 60_000);
});
