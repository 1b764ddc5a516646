/**
 * `OBSERVERS_JOB_HANDLERS` (adapters/hosts/server/job-handlers.ts): a module that fails to import
 * is a configuration error naming the variable, and its error text, printed at startup, keeps only
 * the origin of URLs (a connection string or signed URL in it is a credential).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { loadJobHandlers } from "../../adapters/hosts/server/job-handlers.ts";
import { ConfigError } from "../../src/errors.ts";
import type { Jobs } from "../../src/jobs/runner.ts";

const dir = mkdtempSync(join(tmpdir(), "job-handlers-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const noJobs = {} as Jobs;

describe("loadJobHandlers", () => {
  it("a module that throws on import: a ConfigError naming the variable, URLs cut to their origin", async () => {
    const module = join(dir, "throws.mjs");
    writeFileSync(
      module,
      'throw new Error("cannot connect to postgres://app:hunter2@db.internal:5432/app");\n',
    );
    const error = await loadJobHandlers(module, noJobs).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ConfigError);
    const text = JSON.stringify((error as ConfigError).issues);
    expect(text).toContain("OBSERVERS_JOB_HANDLERS");
    expect(text).toContain("postgres://db.internal:5432/…");
    expect(text).not.toContain("hunter2");
  });

  it("a module that is missing: named whole, file: URLs included", async () => {
    const missing = join(dir, "missing.ts");
    const error = await loadJobHandlers(pathToFileURL(missing).href, noJobs).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ConfigError);
    expect(JSON.stringify((error as ConfigError).issues)).toContain(missing);
  });
});
